"""1C:Enterprise's standard OData interface on loopback, over a generated book (``emulators.onec_book``).

Wire format as 1C gives it (OData v3, JSON "light"): entity sets under their Cyrillic names, rows as
``{"odata.metadata": ".../$metadata#<set>", "value": [...]}``, one object as ``...#<set>/@Element``, errors as
``{"odata.error": {"code": ..., "message": {"lang": "ru", "value": ...}}}``.

- ``GET /odata/standard.odata/``: the service document (entity set names).
- ``GET /odata/standard.odata/<set>``: rows; ``$filter``, ``$orderby``, ``$top``, ``$skip``, ``$select``,
  ``$inlinecount=allpages`` (``"odata.count"``, a string as 1C writes it). See ``emulators.odata_query`` for what
  the filter understands, and where it behaves as 1C rather than as a generic OData server.
- ``GET /odata/standard.odata/<set>(guid'...')``: one object, 404 when there is none.
- ``GET /odata/standard.odata/<set>/$count``: the number of rows (``$filter`` applies), as text.
- Only JSON: ``$format=json`` or ``Accept: application/json``, else 406 (1C would send Atom XML).
- Basic auth against ``LONGRUN_ONEC_USER`` / ``LONGRUN_ONEC_PASSWORD`` (the same settings the client reads).

Control API (besides ``emulators.faults``' ``/_emulator/faults``, ``/reset``, ``/stats``):

- ``GET /_emulator/book``: the book's config and counts per set; ``POST /_emulator/book`` with a config (see
  ``BookConfig``: ``seed``, ``documents``, ``contractors``, ``folders``, ``date_from``, ``date_to``,
  ``pending_contractors``, ``midnight_share``, ``deleted_share``, ``page_latency_ms``...) makes a new book.
- ``POST /_emulator/book/change`` ``{"count": K}`` or ``{"ref_keys": [...]}`` (``"entity": "contractors"``
  for the catalog): those objects are written again, with a new DataVersion and amount; answers their keys.
  ``"fields": {"Number": "..."}`` writes those values too, as a person could type them into 1C.
- ``POST /_emulator/book/insert`` ``{"count": K, "date": "2024-03-01T00:00:00"}``: new documents.
- ``POST /_emulator/book/remove`` ``{"ref_keys": [...]}``: objects deleted for good.
- ``POST /_emulator/book/arrive``: the pending contractors (named by documents) enter the catalog.
- ``POST /_emulator/session`` ``{"times": N}`` or ``{"seconds": S}``: 1C's expired session, i.e. the next N
  requests (or all for S seconds) answer 401 whatever their credentials.

``POST /_emulator/reset`` also brings back the default book and a live session.

Run: ``python -m emulators.onec --host 127.0.0.1 --port 8105``
"""

import asyncio
import base64
import binascii
import json
import re
import secrets
import time
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import JSONResponse, PlainTextResponse, Response

from emulators import serve
from emulators.faults import EmulatorApp
from emulators.odata_query import QueryError, order, page, parse_filter, parse_query, parse_select, project
from emulators.onec_book import SCHEMAS, Book, BookConfig
from settings import Settings

ROOT = "/odata/standard.odata"
_RESOURCE = re.compile(r"^(?P<set>[^(/]+)(?:\((?P<key>[^)]*)\))?(?P<count>/\$count)?$")
_KEY = re.compile(r"^guid'(?P<guid>[0-9a-fA-F-]{36})'$")
_OPTIONS = {"$format", "$filter", "$orderby", "$top", "$skip", "$select", "$inlinecount", "allowedOnly"}
_REALM = {"WWW-Authenticate": 'Basic realm="1C:Enterprise"'}


def odata_error(status: int, message: str) -> dict[str, Any]:
    """1C's error envelope; `code` is 1C's internal number, which clients do not branch on."""
    return {"odata.error": {"code": str(status), "message": {"lang": "ru", "value": message}}}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(odata_error(status, message), status_code=status, headers=headers)


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class SessionFault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    times: int | None = Field(None, ge=1)
    seconds: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one(self) -> "SessionFault":
        if (self.times is None) == (self.seconds is None):
            raise ValueError("give exactly one of times, seconds")
        return self


class Session:
    """Whether 1C considers the session expired: for the next `times` requests, or until a moment."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._times = 0
        self._until = 0.0

    def expire(self, fault: SessionFault) -> None:
        if fault.times is not None:
            self._times = fault.times
        else:
            self._until = time.monotonic() + fault.seconds

    def take(self) -> bool:
        """True when this request meets an expired session (spending one of `times`)."""
        if self._times > 0:
            self._times -= 1
            return True
        return time.monotonic() < self._until


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: Literal["documents", "contractors"] = "documents"
    count: int = Field(0, ge=0)
    ref_keys: list[UUID] | None = None
    # Values written into the changed objects as they are, by 1C field name: {"Number": "<51 characters>"}.
    fields: dict[str, Any] | None = None


class Insert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=1, le=100_000)
    date: datetime | None = None


class Remove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref_keys: list[UUID]


class _State:
    def __init__(self) -> None:
        self.book = Book()
        self.session = Session()
        # Sorting a big book for every page would cost more than the page: keep each order until the book changes.
        self._orders: dict[tuple[str, tuple], tuple[int, list[dict]]] = {}

    def reset(self) -> None:
        self.use(Book())
        self.session.reset()

    def use(self, book: Book) -> None:
        self.book = book
        self._orders.clear()

    def ordered(self, entity_set: str, by: tuple[tuple[str, bool], ...]) -> list[dict]:
        revision, rows = self._orders.get((entity_set, by), (None, []))
        if revision != self.book.revision:
            rows = order(self.book.rows(entity_set), by)
            self._orders[(entity_set, by)] = (self.book.revision, rows)
        return rows


def create_app(settings: Settings | None = None) -> EmulatorApp:
    settings = settings or Settings()
    expected = (settings.onec_user.encode(), settings.onec_password.get_secret_value().encode())
    app = EmulatorApp(title="1C OData emulator", error_envelope=odata_error)
    state = _State()
    app.on_reset(state.reset)

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused) -> Response:
        return exc.response

    def authorized(request: Request) -> None:
        if state.session.take():
            raise _Refused(_error(401, "Сеанс отсутствует или удален", _REALM))
        if not _credentials_match(request.headers.get("authorization", ""), expected):
            raise _Refused(_error(401, "Ошибка аутентификации пользователя информационной базы", _REALM))

    def json_only(request: Request) -> None:
        unknown = [name for name in request.query_params if name.startswith("$") and name not in _OPTIONS]
        if unknown:
            raise _Refused(_error(400, f"Неподдерживаемый параметр запроса {unknown[0]}"))
        wanted = request.query_params.get("$format", "")
        if wanted.lower() in ("json", "application/json"):
            return
        if wanted or "json" not in request.headers.get("accept", ""):
            raise _Refused(_error(406, "Эмулятор отдаёт только JSON: добавьте $format=json"))

    guards = [Depends(authorized), Depends(json_only)]

    @app.get(ROOT, dependencies=guards)
    @app.get(f"{ROOT}/", dependencies=guards)
    async def service(request: Request) -> Response:
        names = [{"name": name, "url": name} for name in SCHEMAS]
        return _json({"odata.metadata": f"{_base(request)}/$metadata", "value": names})

    @app.get(ROOT + "/{resource:path}", dependencies=guards)
    async def resource(request: Request, resource: str) -> Response:
        match = _RESOURCE.match(resource)
        if match is None or match["set"] not in SCHEMAS:
            return _error(404, f"Не найден ресурс {resource!r}")
        entity_set, key, counting = match["set"], match["key"], match["count"]
        schema = SCHEMAS[entity_set]
        options = dict(request.query_params)
        try:
            if key is not None:
                return _element(request, state.book, entity_set, key, options)
            if counting:
                where = parse_filter(schema, options["$filter"]) if options.get("$filter") else None
                rows = state.book.rows(entity_set)
                return PlainTextResponse(str(sum(1 for row in rows if where is None or where(row))))
            query = parse_query(schema, options)
            inline = options.get("$inlinecount", "none")
            if inline not in ("none", "allpages"):
                return _error(400, f"Неверное значение $inlinecount: {inline!r}")
        except QueryError as exc:
            return _error(exc.status, exc.message)
        if state.book.config.page_latency_ms:
            await asyncio.sleep(state.book.config.page_latency_ms / 1000)
        rows, total = page(state.ordered(entity_set, query.order), query, count_all=inline == "allpages")
        body: dict[str, Any] = {"odata.metadata": f"{_base(request)}/$metadata#{entity_set}"}
        if inline == "allpages":
            body["odata.count"] = str(total)
        body["value"] = [project(row, query.select) for row in rows]
        return _json(body)

    @app.get("/_emulator/book")
    async def get_book() -> dict[str, Any]:
        return _describe(state.book)

    @app.post("/_emulator/book")
    async def set_book(config: BookConfig) -> dict[str, Any]:
        state.use(Book(config))
        return _describe(state.book)

    @app.post("/_emulator/book/change")
    async def change(spec: Change) -> dict[str, Any]:
        keys = None if spec.ref_keys is None else [str(key) for key in spec.ref_keys]
        return {"changed": state.book.change(spec.entity, spec.count, keys, spec.fields)}

    @app.post("/_emulator/book/insert")
    async def insert(spec: Insert) -> dict[str, Any]:
        return {"inserted": state.book.insert(spec.count, spec.date)}

    @app.post("/_emulator/book/remove")
    async def remove(spec: Remove) -> dict[str, Any]:
        return {"removed": state.book.remove([str(key) for key in spec.ref_keys])}

    @app.post("/_emulator/book/arrive")
    async def arrive() -> dict[str, Any]:
        return {"arrived": state.book.arrive()}

    @app.post("/_emulator/session")
    async def expire_session(fault: SessionFault) -> dict[str, bool]:
        state.session.expire(fault)
        return {"ok": True}

    return app


def _element(request: Request, book: Book, entity_set: str, key: str, options: dict[str, str]) -> Response:
    match = _KEY.match(key)
    if match is None:
        raise QueryError(400, f"Неверный ключ {key!r}: ожидается guid'...'")
    row = book.find(entity_set, match["guid"].lower())
    if row is None:
        return _error(404, "Не найден объект")
    select = parse_select(SCHEMAS[entity_set], options["$select"]) if options.get("$select") else None
    return _json({"odata.metadata": f"{_base(request)}/$metadata#{entity_set}/@Element", **project(row, select)})


def _credentials_match(header: str, expected: tuple[bytes, bytes]) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, separator, password = base64.b64decode(encoded, validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return False
    # Both compared, always: an early exit would tell which usernames exist by how fast the answer comes.
    user_ok = secrets.compare_digest(user, expected[0])
    password_ok = secrets.compare_digest(password, expected[1])
    return bool(separator) and user_ok and password_ok


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + ROOT


def _describe(book: Book) -> dict[str, Any]:
    return {"config": book.config.model_dump(mode="json"), "counts": book.counts(), "revision": book.revision}


def _json(body: dict[str, Any]) -> Response:
    # Cyrillic as UTF-8 text, not \u escapes: what 1C sends, and what a client's decoder must handle.
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, media_type="application/json;charset=utf-8")


if __name__ == "__main__":
    serve.run(create_app, description="1C OData emulator", default_port=8105)
