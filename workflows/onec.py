"""1C sync: bank transactions of a period and the contractors catalog, read page by page into the books.

Replaces the in-memory task manager the 1C syncs ran in before Longrun: a restart loses nothing, cancel takes effect
within one page, and one workflow per kind of sync holds the books (`onec-sync-bank-transactions`,
`onec-sync-contractors`): a second start while one runs answers the running job, so two syncs never write the same rows
at once.
"""

from datetime import date, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from runtime.queues import QueueKind
from workflows.base import HEARTBEAT_TIMEOUT, JobResult, JobWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.onec import (
        CONTRACTORS,
        KINDS,
        Classified,
        ClassifyInput,
        CountInput,
        OneCActivities,
        PageInput,
        PageResult,
        Period,
        RulesApplied,
        ScheduledSync,
    )
    from db.onec_books import Counts
    from domain.onec_paging import PageCursor
    from workflows.start import SCHEDULE_OWNER, JobRequest

BANK_JOB = "sync_bank_transactions"
CONTRACTORS_JOB = "sync_contractors"
BANK_JOB_ID = "onec-sync-bank-transactions"
CONTRACTORS_JOB_ID = "onec-sync-contractors"

# 1C down for an hour is waited out; a refused request (bad credentials, a wrong entity, 4xx but 408 and 429) and
# data the books cannot hold fail the job at once: the activities raise those non-retryable (`outside_failure`,
# `bad_data`). A row too wide for its column is not even that: it fails alone (`PageResult.errors`).
ONEC_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60))
STEP = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": HEARTBEAT_TIMEOUT,
    "retry_policy": ONEC_RETRY,
    # A page being written when a cancel comes finishes first: its rows and its ledger row go together.
    "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
}
LOCAL = {"start_to_close_timeout": timedelta(minutes=2), "retry_policy": RetryPolicy(maximum_attempts=5)}
# Classification counted in the progress (one step counts what it has to do and applies the rules): a sync with
# auto_classify no longer shows 100% while the LLM works through thousands of rows.
CLASSIFICATION_COUNTED = "onec-classification-counted"


class SyncBankInput(BaseModel):
    date_from: date | None = None
    date_to: date | None = None
    # Schedules sync "the last N days": the period ends on the day the run starts.
    days_back: int | None = Field(default=None, ge=0)
    auto_classify: bool = False
    page_size: int = Field(default=1000, ge=1, le=5000)

    def period(self, today: date) -> Period:
        if self.days_back is not None:
            return Period(date_from=today - timedelta(days=self.days_back), date_to=today)
        return Period(date_from=self.date_from or today, date_to=self.date_to or today)


class SyncContractorsInput(BaseModel):
    page_size: int = Field(default=1000, ge=1, le=5000)


class SyncResult(JobResult):
    """The counts the 1C front end shows, and what else the sync did."""

    loaded: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0  # rows that cannot be stored as 1C has them: named in the progress's errors
    contractors_fetched: int = 0
    documents_without_contractor: int = 0
    classified_by_rule: int = 0
    classified_by_llm: int = 0
    date_from: date | None = None
    date_to: date | None = None


class OneCSync(JobWorkflow):
    """What both syncs share: pages read and counted until the entity is through or a cancel comes."""

    def __init__(self) -> None:
        super().__init__()
        self._counts = Counts()
        self._loading = ""
        self._to_load = 0

    def _begin_loading(self, to_load: int, what: str, total: int | None = None) -> None:
        """Start counting toward `total` (the rows to load unless more work follows them), in the loading phase."""
        self._loading, self._to_load = what, to_load
        self.begin(to_load if total is None else total, what)
        self._show_loading()

    def _show_loading(self) -> None:
        loaded = self._counts.loaded
        self._progress.details.update(phase="loading", phase_processed=loaded, phase_total=self._to_load)
        self._progress.message = f"loading {self._loading}: {loaded}/{self._to_load}"

    async def _entity(self, inp: PageInput, result: SyncResult) -> None:
        cursor = PageCursor()
        page_number = 0
        while not self.cancel_requested:
            page_number += 1
            self.set_current(f"{inp.entity}, page {page_number}")
            page = await self._step(inp.model_copy(update={"cursor": cursor}))
            if page is None:
                return
            c = page.counts
            self._counts += c
            result.contractors_fetched += page.contractors_fetched
            result.documents_without_contractor += page.documents_without_contractor
            self.advance(succeeded=c.created + c.updated, skipped=c.skipped, failed=c.failed)
            for error in page.errors:
                self.record_error(error.key, error.error)
            self._progress.details.update(self._counts.model_dump(), page=page_number, entity=inp.entity)
            self._show_loading()
            if not page.more:
                return
            cursor = page.next

    async def _step(self, inp: PageInput) -> PageResult | None:
        """A page, or None when a cancel (signal or Temporal's) stopped it: the job then ends cancelled."""
        return await self.stoppable(workflow.execute_activity_method(OneCActivities.sync_page, inp, **STEP))

    def _close(self, result: SyncResult) -> SyncResult:
        for name, value in self._counts.model_dump().items():
            setattr(result, name, value)
        c = self._counts
        result.status = self.finish(
            f"loaded {c.loaded}: created {c.created}, updated {c.updated}, skipped {c.skipped}, deleted {c.deleted}"
            + (f", failed {c.failed}" if c.failed else "")
        )
        result.progress = self._progress
        return result


@workflow.defn(name="SyncBankTransactions")
class SyncBankTransactionsWorkflow(OneCSync):
    # Its task queue's kind (runtime/queues.py): a year of documents page by page, the LLM's classification with them.
    queue_kind = QueueKind.bulk

    @workflow.run
    async def run(self, inp: SyncBankInput) -> SyncResult:
        period = inp.period(workflow.now().date())
        result = SyncResult(status=self._progress.status, progress=self._progress, **period.model_dump())
        total = await workflow.execute_activity_method(
            OneCActivities.count, CountInput(entity="documents", period=period), **STEP
        )
        # How much classification there will be is known only once the documents are in: until then every document
        # counts once more, for its classification, so the bar stops well short of the end while that is to come.
        what = f"bank transactions {period.date_from} – {period.date_to}"
        self._begin_loading(total, what, total * 2 if inp.auto_classify else None)
        for kind in KINDS:
            page = PageInput(job_run=workflow.info().run_id, entity=kind.value, period=period, size=inp.page_size)
            await self._entity(page, result)
        if inp.auto_classify and not self.cancel_requested:
            if workflow.patched(CLASSIFICATION_COUNTED):
                await self._classify_counted(period, result)
            else:
                self._progress.total = self._progress.processed  # a run started before: classification uncounted
                await self._classify(period, result)
        return self._close(result)

    async def _classify_counted(self, period: Period, result: SyncResult) -> None:
        """Rules first, then the LLM, each row classified (or left, when the LLM leaves it) counted in the progress:
        the total becomes the documents read plus the rows to classify, and `details` says which phase it is in."""
        self.set_current("classifying", "classifying by rules")
        rules: RulesApplied = await workflow.execute_local_activity_method(
            OneCActivities.classify_by_rules, period, **LOCAL
        )
        result.classified_by_rule = rules.by_rule
        self._progress.total = self._progress.processed + rules.unclassified
        self.advance(succeeded=rules.by_rule)
        left = rules.unclassified - rules.by_rule
        while left > 0 and not self.cancel_requested:
            self._show_classifying(rules.unclassified - left, rules.unclassified, result)
            batch: Classified = await workflow.execute_activity_method(
                OneCActivities.classify_with_llm, ClassifyInput(period=period), **STEP
            )
            result.classified_by_llm += batch.saved
            # A row someone cleared meanwhile may be classified too: the count never passes what was to do.
            done = min(batch.saved, left)
            left -= done
            self.advance(succeeded=done)
            if batch.asked == 0 or batch.saved == 0:
                break
        if left > 0 and not self.cancel_requested:
            self.advance(skipped=left)  # the LLM gave these no category: they stay for the next sync
        self._show_classifying(rules.unclassified - left, rules.unclassified, result)

    def _show_classifying(self, done: int, to_do: int, result: SyncResult) -> None:
        self._progress.details.update(
            phase="classifying",
            phase_processed=done,
            phase_total=to_do,
            classified_by_rule=result.classified_by_rule,
            classified_by_llm=result.classified_by_llm,
        )
        self.set_current("classifying", f"classifying: {done}/{to_do}")

    async def _classify(self, period: Period, result: SyncResult) -> None:
        """Rules first, in one statement; the LLM for the rest, a batch at a time, until none is left."""
        self.set_current("classifying", "classifying by rules")
        result.classified_by_rule = await workflow.execute_local_activity_method(
            OneCActivities.apply_rules, period, **LOCAL
        )
        while not self.cancel_requested:
            self.set_current("classifying", f"classifying with the LLM: {result.classified_by_llm} so far")
            batch: Classified = await workflow.execute_activity_method(
                OneCActivities.classify_with_llm, ClassifyInput(period=period), **STEP
            )
            result.classified_by_llm += batch.saved
            self._progress.details.update(
                classified_by_rule=result.classified_by_rule, classified_by_llm=result.classified_by_llm
            )
            if batch.asked == 0 or batch.saved == 0:
                return


@workflow.defn(name="SyncContractors")
class SyncContractorsWorkflow(OneCSync):
    # Its task queue's kind (runtime/queues.py).
    queue_kind = QueueKind.bulk

    @workflow.run
    async def run(self, inp: SyncContractorsInput) -> SyncResult:
        result = SyncResult(status=self._progress.status, progress=self._progress)
        total = await workflow.execute_activity_method(OneCActivities.count, CountInput(entity="contractors"), **STEP)
        self._begin_loading(total, "contractors")
        page = PageInput(job_run=workflow.info().run_id, entity=CONTRACTORS, size=inp.page_size)
        await self._entity(page, result)
        return self._close(result)


@workflow.defn(name="ScheduledOneCSync")
class ScheduledOneCSyncWorkflow:
    """What the 1C schedules run: start the sync job the way the API does, so it keeps its kind's job id."""

    # Its task queue's kind (runtime/queues.py).
    queue_kind = QueueKind.bulk

    @workflow.run
    async def run(self, inp: ScheduledSync) -> str:
        return await workflow.execute_activity_method(
            OneCActivities.start_scheduled,
            inp,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10),
        )


def scheduled_job(inp: ScheduledSync, owner: str = SCHEDULE_OWNER) -> JobRequest:
    if inp.kind == "contractors":
        return contractors_sync_job(SyncContractorsInput(), owner)
    return bank_sync_job(SyncBankInput(days_back=inp.days_back, auto_classify=inp.auto_classify), owner)


def bank_sync_job(inp: SyncBankInput, owner: str) -> JobRequest:
    return JobRequest(SyncBankTransactionsWorkflow.run, inp, BANK_JOB, owner, BANK_JOB_ID)


def contractors_sync_job(inp: SyncContractorsInput, owner: str) -> JobRequest:
    return JobRequest(SyncContractorsWorkflow.run, inp, CONTRACTORS_JOB, owner, CONTRACTORS_JOB_ID)
