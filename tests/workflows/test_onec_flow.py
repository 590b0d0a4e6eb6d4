"""The 1C sync workflows' own logic with stub activities: both document kinds paged through and counted,
cancel within one page, classification until nothing is left, and the schedules' trigger."""

import itertools
from dataclasses import replace

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus

from activities.onec import (
    KINDS,
    Classified,
    ClassifyInput,
    CountInput,
    PageInput,
    PageResult,
    Period,
    RulesApplied,
    ScheduledSync,
)
from db.onec_books import Counts
from domain.onec_paging import PageCursor
from tests.workflows.stubs import Gate, heartbeat_until_cancelled
from workflows.base import JobStatus
from workflows.onec import (
    ScheduledOneCSyncWorkflow,
    SyncBankInput,
    SyncBankTransactionsWorkflow,
    SyncContractorsWorkflow,
    bank_sync_job,
)
from workflows.start import start_job

_runs = itertools.count(1)


class Book:
    """Pages of `per_page` rows, `pages[entity]` of them; each row new; read number `hold_at` waits for a cancel."""

    def __init__(self, pages: dict[str, int], per_page: int = 10, hold_at: int | None = None) -> None:
        self.pages = pages
        self.per_page = per_page
        self.hold_at = hold_at
        self.read: list[tuple[str, int]] = []
        self.gate = Gate()
        self.cancelled = 0
        self.llm_batches = [50, 3, 0]
        self.unclassified = 60
        self.scheduled: list[ScheduledSync] = []

    @activity.defn(name="onec.count")
    async def count(self, inp: CountInput) -> int:
        return sum(self.pages.values()) * self.per_page

    @activity.defn(name="onec.sync_page")
    async def sync_page(self, inp: PageInput) -> PageResult:
        number = inp.cursor.skip // self.per_page + 1
        self.read.append((inp.entity, number))
        if self.hold_at is not None and len(self.read) == self.hold_at:
            self.gate.entered[number] += 1  # held here, heartbeating, until the cancel reaches it
            await heartbeat_until_cancelled(self._cancelled)
        counts = Counts(loaded=self.per_page, created=self.per_page)
        more = number < self.pages[inp.entity]
        return PageResult(counts=counts, next=PageCursor(skip=number * self.per_page), more=more)

    def _cancelled(self) -> None:
        self.cancelled += 1

    @activity.defn(name="onec.apply_rules")
    async def apply_rules(self, period: Period) -> int:
        return 7

    @activity.defn(name="onec.classify_by_rules")
    async def classify_by_rules(self, period: Period) -> RulesApplied:
        return RulesApplied(unclassified=self.unclassified, by_rule=7)

    @activity.defn(name="onec.classify_with_llm")
    async def classify_with_llm(self, inp: ClassifyInput) -> Classified:
        asked = self.llm_batches.pop(0)
        return Classified(asked=asked, saved=asked)

    @activity.defn(name="onec.start_scheduled")
    async def start_scheduled(self, inp: ScheduledSync) -> str:
        self.scheduled.append(inp)
        return f"onec-sync-{inp.kind}"

    def activities(self) -> list:
        return [
            self.count,
            self.sync_page,
            self.apply_rules,
            self.classify_by_rules,
            self.classify_with_llm,
            self.start_scheduled,
        ]


WORKFLOWS = [SyncBankTransactionsWorkflow, SyncContractorsWorkflow, ScheduledOneCSyncWorkflow]


def bank_job(**inp):
    job = bank_sync_job(SyncBankInput(date_from="2024-01-01", date_to="2024-12-31", **inp), "tester")
    return replace(job, job_id=f"onec-sync-test-{next(_runs)}")


async def test_both_kinds_are_paged_through_and_counted(env, run_worker):
    book = Book({KINDS[0].value: 3, KINDS[1].value: 2})
    async with run_worker(WORKFLOWS, book.activities()) as settings:
        result = await (await start_job(env.client, settings, bank_job())).result()
    assert book.read == [(KINDS[0].value, 1), (KINDS[0].value, 2), (KINDS[0].value, 3),
                         (KINDS[1].value, 1), (KINDS[1].value, 2)]  # fmt: skip
    assert (result.status, result.loaded, result.created) == (JobStatus.completed, 50, 50)
    assert (result.progress.processed, result.progress.total, result.progress.percent) == (50, 50, 100.0)
    assert result.classified_by_llm == 0 and book.llm_batches == [50, 3, 0], "no classification unless asked"


async def test_cancel_takes_effect_within_one_page(env, run_worker):
    book = Book({KINDS[0].value: 5, KINDS[1].value: 5}, hold_at=2)
    async with run_worker(WORKFLOWS, book.activities()) as settings:
        handle = await start_job(env.client, settings, bank_job())
        await book.gate.reached(1, "the second page under way")
        await handle.signal("cancel", "wrong period")
        result = await handle.result()
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert result.status == JobStatus.cancelled and book.cancelled == 1
    assert len(book.read) == 2 and result.loaded == 10, "the held page was stopped, none started after it"


async def test_classification_is_counted_in_the_progress_until_nothing_is_left(env, run_worker):
    book = Book({KINDS[0].value: 1, KINDS[1].value: 1})
    async with run_worker(WORKFLOWS, book.activities()) as settings:
        result = await (await start_job(env.client, settings, bank_job(auto_classify=True))).result()
    assert (result.classified_by_rule, result.classified_by_llm) == (7, 53)
    assert book.llm_batches == [0], "the rows counted to classify are done: no batch asked for nothing"
    p = result.progress
    assert (p.processed, p.total, p.succeeded, p.percent) == (20 + 60, 20 + 60, 20 + 60, 100.0)
    assert (p.details["phase"], p.details["phase_processed"], p.details["phase_total"]) == ("classifying", 60, 60)


async def test_rows_the_llm_leaves_are_counted_skipped(env, run_worker):
    book = Book({KINDS[0].value: 1, KINDS[1].value: 1})
    book.unclassified, book.llm_batches = 100, [50, 0]
    async with run_worker(WORKFLOWS, book.activities()) as settings:
        result = await (await start_job(env.client, settings, bank_job(auto_classify=True))).result()
    p = result.progress
    assert (p.processed, p.total, p.skipped, p.percent) == (120, 120, 100 - 7 - 50, 100.0)
    assert result.status == JobStatus.completed and book.llm_batches == []


async def test_days_back_is_counted_from_the_run_day(env, run_worker):
    book = Book({KINDS[0].value: 1, KINDS[1].value: 1})
    async with run_worker(WORKFLOWS, book.activities()) as settings:
        job = replace(bank_sync_job(SyncBankInput(days_back=3), "tester"), job_id=f"onec-sync-test-{next(_runs)}")
        handle = await start_job(env.client, settings, job)
        result = await handle.result()
    assert (result.date_to - result.date_from).days == 3


async def test_a_schedule_starts_the_sync_through_the_activity(env, run_worker):
    book = Book({})
    async with run_worker(WORKFLOWS, book.activities()) as settings:
        handle = await env.client.start_workflow(
            ScheduledOneCSyncWorkflow.run,
            ScheduledSync(kind="contractors"),
            id=f"scheduled-{next(_runs)}",
            task_queue=settings.task_queue,
        )
        assert await handle.result() == "onec-sync-contractors"
    assert [s.kind for s in book.scheduled] == ["contractors"]
