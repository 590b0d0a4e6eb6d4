"""1C sync: count, read a page of 1C into the books (one statement, its ledger row in the same transaction),
fetch contractors the books do not know yet, and classify transactions by rules, then by the LLM.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from functools import partial
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, create_model
from sqlalchemy.exc import DataError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.llm import LLMClient
from clients.onec import CONTRACTORS, OneCClient, OneCError
from db import onec_books
from db.onec_books import Counts, RowError
from db.session import SessionFactory
from domain.onec_paging import PageCursor
from domain.onec_rows import DocumentKind
from runtime.errors import calling_llm, outside_failure
from runtime.heartbeat import heartbeating

KINDS = (DocumentKind.INCOMING, DocumentKind.OUTGOING)
# Contractors fetched at once for documents that name them before the catalog has them.
FETCH_PARALLEL = 8
CLASSIFIER_PROMPT = (
    "You are an accountant. Put every numbered bank transaction of a Russian company into exactly one of the "
    "given categories, judging by its direction, amount, contractor, operation kind and payment purpose."
)


class Period(BaseModel):
    date_from: date
    date_to: date

    def bounds(self) -> tuple[datetime, datetime]:
        """1C's local time, as the books keep it: the first day's start to the last day's end."""
        return datetime.combine(self.date_from, time.min), datetime.combine(self.date_to, time.max)


class CountInput(BaseModel):
    entity: Literal["documents", "contractors"]
    period: Period | None = None


class PageInput(BaseModel):
    job_run: str  # the ledger's key: a retried page of this run answers what it recorded
    entity: str  # a document kind's entity set, or the contractors catalog
    period: Period | None = None
    cursor: PageCursor = Field(default_factory=PageCursor)
    size: int = 1000


class PageResult(BaseModel):
    counts: Counts
    next: PageCursor
    more: bool
    contractors_fetched: int = 0
    # Documents naming a contractor 1C does not have either: kept with its key, not failed.
    documents_without_contractor: int = 0
    # Rows that cannot be stored as they are (counts.failed): the page's other rows are written.
    errors: list[RowError] = Field(default_factory=list)


class ClassifyInput(BaseModel):
    period: Period
    batch: int = 50


class Classified(BaseModel):
    asked: int = 0
    saved: int = 0


class RulesApplied(BaseModel):
    """What classification has to do in a period (`unclassified`, counted before the rules ran) and how much of it
    the rules did: the rest is the LLM's."""

    unclassified: int
    by_rule: int


class ScheduledSync(BaseModel):
    """What a schedule asks for: a sync of one kind, the bank one over the last `days_back` days."""

    kind: Literal["bank_transactions", "contractors"]
    days_back: int = Field(default=3, ge=0)
    auto_classify: bool = True


# Starts (or finds) the sync job a schedule asks for; the worker wires it to `workflows.start`.
StartScheduled = Callable[[ScheduledSync], Awaitable[str]]


class OneCActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        onec: OneCClient,
        llm: LLMClient,
        categories: list[str],
        start_scheduled: StartScheduled | None = None,
    ) -> None:
        self._sessions = sessions
        self._onec = onec
        self._llm = llm
        self._categories = categories
        self._start_scheduled = start_scheduled

    @activity.defn(name="onec.start_scheduled")
    async def start_scheduled(self, inp: ScheduledSync) -> str:
        """The sync a schedule asks for, under its kind's one job id: a sync already running is left to finish."""
        assert self._start_scheduled is not None, "the worker gives OneCActivities its start_scheduled"
        return await self._start_scheduled(inp)

    @activity.defn(name="onec.count")
    async def count(self, inp: CountInput) -> int:
        try:
            if inp.entity == "contractors":
                return await self._onec.count_contractors()
            period = documents_period(inp.period)
            incoming, outgoing = await asyncio.gather(
                *(self._onec.count_documents(kind, period.date_from, period.date_to) for kind in KINDS)
            )
            return incoming + outgoing
        except OneCError as exc:
            raise outside_failure(exc) from exc

    @activity.defn(name="onec.sync_page")
    async def sync_page(self, inp: PageInput) -> PageResult:
        page_key = inp.cursor.model_dump_json()
        async with self._sessions() as session:
            recorded = await onec_books.recorded_page(session, inp.job_run, inp.entity, page_key)
        if recorded is not None:
            return PageResult.model_validate(recorded)  # this page was written before the attempt was lost
        async with heartbeating():
            try:
                result = await self._read_and_write(inp, page_key)
            except OneCError as exc:
                raise outside_failure(exc) from exc
            except DataError as exc:
                # The rows were fitted to their columns: what Postgres still refuses will be refused again.
                raise bad_data(exc) from exc
        return result

    async def _read_and_write(self, inp: PageInput, page_key: str) -> PageResult:
        if inp.entity == CONTRACTORS:
            page = await self._onec.contractors_page(inp.cursor, inp.size)
            contractors, errors = onec_books.fit_contractors(page.rows)
            upsert, fetched, orphans = partial(onec_books.upsert_contractors, contractors=contractors), 0, 0
        else:
            kind = DocumentKind(inp.entity)
            period = documents_period(inp.period)
            page = await self._onec.documents_page(kind, period.date_from, period.date_to, inp.cursor, inp.size)
            documents, errors = onec_books.fit_documents(page.rows)
            fetched, missing = await self._fetch_contractors({d.contractor for d in documents if d.contractor})
            upsert = partial(onec_books.upsert_documents, documents=documents)
            orphans = sum(1 for d in documents if d.contractor in missing)
        async with self._sessions() as session, session.begin():
            counts = await upsert(session)
            counts.loaded, counts.failed = len(page.rows), len(errors)
            result = PageResult(
                counts=counts,
                next=page.next,
                more=page.more,
                contractors_fetched=fetched,
                documents_without_contractor=orphans,
                errors=errors,
            )
            await onec_books.record_page(session, inp.job_run, inp.entity, page_key, result.model_dump(mode="json"))
        return result

    async def _fetch_contractors(self, named: set[UUID]) -> tuple[int, set[UUID]]:
        """Contractors documents name that the books lack, fetched one by one (1C has no batch read by key);
        answers how many were fetched and the keys 1C has no contractor for either."""
        async with self._sessions() as session:
            unknown = await onec_books.unknown_contractors(session, named)
        if not unknown:
            return 0, set()
        slots = asyncio.Semaphore(FETCH_PARALLEL)

        async def fetch(key: UUID):
            async with slots:
                return await self._onec.contractor(key)

        found = [c for c in await asyncio.gather(*(fetch(k) for k in unknown)) if c is not None]
        # One that cannot be stored stays unknown: its documents are kept with its key, as for one 1C lacks.
        found, _ = onec_books.fit_contractors(found)
        if found:
            async with self._sessions() as session, session.begin():
                await onec_books.upsert_contractors(session, found)
        return len(found), set(unknown) - {c.ref_key for c in found}

    @activity.defn(name="onec.apply_rules")
    async def apply_rules(self, period: Period) -> int:
        async with self._sessions() as session, session.begin():
            return await onec_books.apply_rules(session, *period.bounds())

    @activity.defn(name="onec.classify_by_rules")
    async def classify_by_rules(self, period: Period) -> RulesApplied:
        async with self._sessions() as session, session.begin():
            unclassified = await onec_books.count_unclassified(session, *period.bounds())
            return RulesApplied(
                unclassified=unclassified, by_rule=await onec_books.apply_rules(session, *period.bounds())
            )

    @activity.defn(name="onec.classify_with_llm")
    async def classify_with_llm(self, inp: ClassifyInput) -> Classified:
        """One batch of what rules left: the LLM picks a category for each; answers are saved at once."""
        async with self._sessions() as session:
            rows = await onec_books.unclassified(session, *inp.period.bounds(), inp.batch)
        if not rows:
            return Classified()
        schema = verdicts_schema(self._categories)
        async with calling_llm():
            verdicts = await self._llm.parse(CLASSIFIER_PROMPT, classifier_request(self._categories, rows), schema)
        items = verdicts.items  # pyright: ignore[reportAttributeAccessIssue]  # a model made at run time (create_model)
        chosen = {rows[v.index]["ref_key"]: v.category for v in items if 0 <= v.index < len(rows)}
        async with self._sessions() as session, session.begin():
            saved = await onec_books.set_categories(session, chosen)
        return Classified(asked=len(rows), saved=saved)


def documents_period(period: Period | None) -> Period:
    """Bank documents are read for a period (the contractors catalog is read whole)."""
    if period is None:
        raise ApplicationError(
            "bank documents are read for a period; none was given", type="BadInput", non_retryable=True
        )
    return period


def bad_data(exc: DataError) -> ApplicationError:
    """Data the books refuse as it is: the same page would be refused on every retry."""
    first_line = str(exc.orig or exc).splitlines()[0][:500]
    return ApplicationError(f"1C data the books cannot hold: {first_line}", type="BadData", non_retryable=True)


def verdicts_schema(categories: list[str]) -> type[BaseModel]:
    """Structured output whose category must be one of the configured ones (an enum in the JSON schema)."""
    # Types built at run time from the configured categories, which a static checker cannot follow.
    category: Any = Literal[tuple(categories)]
    verdict = create_model("TransactionCategory", index=(int, ...), category=(category, ...))
    return create_model("TransactionCategories", items=(list[verdict], ...))  # pyright: ignore[reportInvalidTypeForm]


def classifier_request(categories: list[str], rows: list[dict[str, Any]]) -> str:
    lines = [f"Categories: {', '.join(categories)}", "Transactions:"]
    for i, row in enumerate(rows):
        purpose = " ".join((row["purpose"] or "").split())[:300]
        lines.append(
            f"[{i}] {row['direction']} {row['amount']} RUB; contractor: {row['contractor'] or 'unknown'}; "
            f"operation: {row['operation'] or '-'}; purpose: {purpose}"
        )
    return "\n".join(lines)
