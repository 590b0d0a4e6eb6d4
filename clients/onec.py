"""1C:Enterprise through its standard OData interface (`/odata/standard.odata/`, OData v3 JSON, Basic auth).

Reads bank documents and contractors a page at a time, so an activity can checkpoint the returned cursor and
resume from it after a retry (see `domain.onec_paging`). Credentials come from `Settings`, never from call
arguments: what a workflow passes to an activity is stored in its history, and the password must not be.

Every failure is a `OneCError` saying whether retrying can help; the client retries nothing itself except one
401, because that is how 1C reports an expired session and Basic auth simply logs in again.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import httpx
from pydantic import ValidationError

from clients.odata import datetime_literal, entity_path, query_string, string_literal
from clients.outside_http import BodyCap, GuardedTransport, OutsideRefused, service_allowlist
from clients.retry_after import parse_retry_after
from domain.onec_paging import Page, PageCursor, Paging, advance, pages
from domain.onec_rows import BankDocument, Contractor, DocumentKind, OneCRow
from settings import Settings

ODATA_PATH = "/odata/standard.odata/"
CONTRACTORS = "Catalog_Контрагенты"
DOCUMENT_FIELDS = (
    "Ref_Key,DataVersion,Number,Date,Posted,DeletionMark,СуммаДокумента,"
    "Контрагент,Контрагент_Type,НазначениеПлатежа,ВидОперации"
)
CONTRACTOR_FIELDS = "Ref_Key,DataVersion,Code,Description,НаименованиеПолное,ИНН,КПП,IsFolder,Parent_Key,DeletionMark"
# Parsing and validating a page this big takes long enough to stall the event loop, and with it the heartbeats
# of every activity on the worker: above it, the work moves to a thread.
OFFLOAD_BYTES = 64 * 1024
# Every other 4xx is final: the same request will be refused again (bad filter, no rights, no such object).
TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})

R = TypeVar("R", bound=OneCRow)


class OneCError(Exception):
    """1C could not answer. `permanent`: the same request will fail again; `retry_after`: seconds 1C asked for."""

    def __init__(self, message: str, *, status: int | None, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent
        self.retry_after = retry_after


class OneCClient:
    def __init__(self, settings: Settings, *, paging: Paging = Paging.KEYSET) -> None:
        base = settings.onec_url.rstrip("/")
        # Accept the publication's URL with or without the OData path: both are common in 1C's own instructions.
        base = base.removesuffix(ODATA_PATH.rstrip("/"))
        self.paging = Paging(paging)
        self._http = httpx.AsyncClient(
            base_url=base + ODATA_PATH,
            auth=httpx.BasicAuth(settings.onec_user, settings.onec_password.get_secret_value()),
            timeout=settings.onec_timeout_seconds,
            headers={"Accept": "application/json"},
            # 1C is where the operator said, usually on a private LAN: reached there; its answers capped.
            transport=GuardedTransport(
                service_allowlist(settings, base), BodyCap(settings.answer_max_bytes, "LONGRUN_ANSWER_MAX_BYTES")
            ),
            max_redirects=settings.outside_max_redirects,
            trust_env=False,
        )

    async def __aenter__(self) -> "OneCClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ bank documents

    async def documents_page(
        self,
        kind: DocumentKind,
        date_from: date | datetime,
        date_to: date | datetime,
        cursor: PageCursor | None = None,
        size: int = 500,
    ) -> Page[BankDocument]:
        """Documents of `kind` dated within [date_from, date_to] (a date means the whole day), oldest first.

        Start with no cursor and pass each page's `next` back, with the same kind and period, until `more` is False.
        """
        cursor = cursor or PageCursor()
        lower = date_from if cursor.key is None else max(_start(date_from), datetime.fromisoformat(cursor.key))
        return await self._page(
            DocumentKind(kind).value,
            _period(lower, date_to),
            "Date asc,Ref_Key asc",
            DOCUMENT_FIELDS,
            cursor,
            size,
            lambda raw: _validate(BankDocument, raw, kind=kind),
            lambda document: document.date.isoformat(),
        )

    async def count_documents(self, kind: DocumentKind, date_from: date | datetime, date_to: date | datetime) -> int:
        """How many documents of `kind` the period holds (`$count`): a sync's total, for its progress."""
        return await self._count(DocumentKind(kind).value, _period(date_from, date_to))

    async def count_contractors(self) -> int:
        return await self._count(CONTRACTORS, None)

    async def documents(
        self, kind: DocumentKind, date_from: date | datetime, date_to: date | datetime, size: int = 500
    ) -> AsyncIterator[BankDocument]:
        """Every document of the period, page after page (for callers that need no checkpoint)."""
        async for page in pages(lambda cursor: self.documents_page(kind, date_from, date_to, cursor, size)):
            for document in page.rows:
                yield document

    # ------------------------------------------------------------------ contractors

    async def contractors_page(
        self, cursor: PageCursor | None = None, size: int = 500, *, include_deleted: bool = True
    ) -> Page[Contractor]:
        """Contractors and their folders in order of `Code`; marked for deletion too unless told otherwise.

        Paged as documents are: pass each page's `next` back, with the same `include_deleted`, while `more`.
        """
        cursor = cursor or PageCursor()
        clauses = [] if cursor.key is None else [f"Code ge {string_literal(cursor.key)}"]
        if not include_deleted:
            clauses.append("DeletionMark eq false")
        return await self._page(
            CONTRACTORS,
            " and ".join(clauses) or None,
            "Code asc,Ref_Key asc",
            CONTRACTOR_FIELDS,
            cursor,
            size,
            lambda raw: _validate(Contractor, raw),
            lambda contractor: contractor.code,
        )

    async def contractors(self, size: int = 500, *, include_deleted: bool = True) -> AsyncIterator[Contractor]:
        async for page in pages(lambda cursor: self.contractors_page(cursor, size, include_deleted=include_deleted)):
            for contractor in page.rows:
                yield contractor

    async def contractor(self, ref_key: UUID | str) -> Contractor | None:
        """One contractor by its key; None when 1C has no such object (yet: documents may name it first)."""
        path = entity_path(CONTRACTORS, UUID(str(ref_key)))
        try:
            payload = await self._get(path, {"$format": "json", "$select": CONTRACTOR_FIELDS}, lambda data: data)
        except OneCError as exc:
            if exc.status == 404:
                return None
            raise
        return _validate(Contractor, payload)

    # ------------------------------------------------------------------ the wire

    async def _page(
        self,
        entity_set: str,
        where: str | None,
        order: str,
        fields: str,
        cursor: PageCursor,
        size: int,
        parse_row: Callable[[dict], R],
        key_of: Callable[[R], str],
    ) -> Page[R]:
        if size < 1:
            raise ValueError("page size must be at least 1")
        options = {
            "$format": "json",
            "$filter": where,
            "$orderby": order,
            "$select": fields,
            # One row more than asked tells whether another page follows, without a request for an empty one.
            "$top": size + 1,
            "$skip": cursor.skip or None,
        }

        def parse(payload: dict) -> list[R]:
            rows = payload.get("value")
            if not isinstance(rows, list):
                raise OneCError(f"{entity_set}: the answer has no `value` list", status=200, permanent=True)
            return [parse_row(row) for row in rows]

        rows = await self._get(entity_path(entity_set), options, parse)
        taken = rows[:size]
        return Page(rows=taken, more=len(rows) > size, next=advance(cursor, taken, key_of, self.paging))

    async def _count(self, entity_set: str, where: str | None) -> int:
        def parse(payload: Any) -> int:
            if isinstance(payload, bool) or not isinstance(payload, int):
                raise OneCError(f"{entity_set}/$count: not a number: {payload!r:.50}", status=200, permanent=True)
            return payload

        return await self._get(f"{entity_path(entity_set)}/$count", {"$filter": where}, parse)

    async def _get(self, path: str, options: dict[str, Any], parse: Callable[[Any], Any]) -> Any:
        url = f"{path}?{query_string(options)}"
        response = await self._send(url)
        if response.status_code == 401:
            # 1C ends idle sessions and answers the next request 401; Basic credentials open a new one. Cookies go
            # so that no stale session id is offered again. A second 401 means the credentials themselves are bad.
            self._http.cookies.clear()
            response = await self._send(url)
        if response.status_code >= 400:
            raise _status_error(response)
        content = response.content
        if len(content) > OFFLOAD_BYTES:
            return await asyncio.to_thread(_decode, content, parse, path)
        return _decode(content, parse, path)

    async def _send(self, url: str) -> httpx.Response:
        try:
            return await self._http.get(url)
        except OutsideRefused as exc:
            raise OneCError(f"1C: {exc}", status=None, permanent=True) from exc
        except httpx.HTTPError as exc:
            raise OneCError(f"1C unreachable: {exc!r}", status=None, permanent=False) from exc


def _period(date_from: date | datetime, date_to: date | datetime) -> str:
    """The `$filter` of a period, the same for its count and its pages (a page's may start later, at its cursor)."""
    return f"Date ge {datetime_literal(_start(date_from))} and Date le {datetime_literal(_end(date_to))}"


def _start(value: date | datetime) -> datetime:
    return _local(value) if isinstance(value, datetime) else datetime.combine(value, time.min)


def _end(value: date | datetime) -> datetime:
    # 1C keeps dates to the second, so the last second of the day is the whole day.
    return _local(value) if isinstance(value, datetime) else datetime.combine(value, time(23, 59, 59))


def _local(value: datetime) -> datetime:
    # 1C's dates are the infobase's wall-clock time with no zone; converting an aware moment would be a guess.
    if value.tzinfo is not None:
        raise ValueError("1C dates have no time zone: pass a naive datetime (the infobase's local time) or a date")
    return value


def _validate(model: type[R], raw: Any, **extra: Any) -> R:
    try:
        return model.model_validate({**raw, **extra} if extra else raw)
    except (ValidationError, TypeError) as exc:
        ref = raw.get("Ref_Key") if isinstance(raw, dict) else None
        raise OneCError(
            f"1C gave a {model.__name__} that does not parse ({ref}): {exc}", status=200, permanent=True
        ) from exc


def _decode(content: bytes, parse: Callable[[Any], Any], path: str) -> Any:
    try:
        # Amounts straight to Decimal: 1C's amounts run to 15 digits and kopecks, more than a float holds exactly.
        payload = json.loads(content, parse_float=Decimal)
    except ValueError as exc:
        raise OneCError(
            f"1C answered {path} with something that is not JSON: {exc}", status=200, permanent=True
        ) from exc
    return parse(payload)


def _status_error(response: httpx.Response) -> OneCError:
    status = response.status_code
    message = f"1C answered HTTP {status} to {response.request.url.path}: {_odata_message(response)}"
    if status in TRANSIENT_CLIENT_STATUSES or status >= 500:
        wait = parse_retry_after(response.headers.get("retry-after"))
        return OneCError(message, status=status, permanent=False, retry_after=wait)
    return OneCError(message, status=status, permanent=True)


def _odata_message(response: httpx.Response) -> str:
    """1C's own words (`{"odata.error": {"message": {"value": ...}}}`) when it gave them, else the body's start."""
    try:
        return str(response.json()["odata.error"]["message"]["value"])
    except (ValueError, KeyError, TypeError):
        return response.text[:300]
