"""Tracker ingestion: a chat's history imported newest first, a page of
100 messages per step, into `message` with its authors' profiles, each new message scored.

Replaces a TaskIQ task that lost its place with its worker: the cursor (the lowest message id read), the counts
and the event numbering live in workflow state, and each page commits its messages, the row's counters and its
events together (`activities/tracker_ingestion.py`), so a replacement worker goes on from the last page and
nothing is saved, counted or announced twice. The API creates the `MessageIngestionJob` row first and the
workflow id is `tracker-ingest-<row id>`, so a repeated start finds the running job.

Cancel stops the page under way (its step heartbeats and rolls back) and closes the row as `cancelled`; a long
history continues as new every `PAGES_PER_RUN` pages.
"""

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

from runtime.queues import QueueKind
from workflows.base import DB_STEP, HEARTBEAT_TIMEOUT, JobProgress, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from activities.tracker_ingestion import (
        BeginInput,
        Counts,
        EventCursor,
        FinishInput,
        IngestionActivities,
        IngestionScope,
        PageInput,
        PageOutcome,
    )
    from db.models.tracker import JobRecordStatus
    from workflows.start import JobRequest

JOB_TYPE = "message_ingestion"
# ~6 history events a page: a run stays far below Temporal's limits and replays fast.
PAGES_PER_RUN = 100
# Telegram's FloodWait is waited out exactly (the step names the delay); a chat that is not there fails at once.
READ_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60))


def step_error(exc: ActivityError) -> str:
    """What the step said went wrong ("chat 'x' does not exist..."), rather than the innermost Telegram error it
    wraps (`root_cause`), whose words are Telegram's."""
    cause = exc.cause
    return cause.message if isinstance(cause, ApplicationError) and cause.message else root_cause(exc)


def ingestion_job_id(job_id: int) -> str:
    return f"tracker-ingest-{job_id}"


class Cursor(BaseModel):
    """Where an ingestion stands; carried over continue-as-new."""

    before_id: int = 0
    done: bool = False
    pages: int = 0
    counts: Counts = Field(default_factory=Counts)
    events: EventCursor = Field(default_factory=EventCursor)


class IngestInput(BaseModel):
    job_id: int  # the MessageIngestionJob row
    owner: str
    scope: IngestionScope | None = None  # read from the row by the first run
    cursor: Cursor = Field(default_factory=Cursor)
    carried: JobProgress | None = None
    pages_per_run: int = Field(default=PAGES_PER_RUN, ge=1)


class IngestResult(JobResult):
    ingestion_id: int
    chat: str
    messages_fetched: int = 0
    messages_saved: int = 0
    messages_skipped: int = 0
    service_messages: int = 0
    error: str | None = None


@workflow.defn(name="IngestMessages")
class IngestMessagesWorkflow(JobWorkflow):
    # Its task queue's kind (runtime/queues.py): a chat's whole history from Telegram.
    queue_kind = QueueKind.bulk

    @workflow.run
    async def run(self, inp: IngestInput) -> IngestResult:
        cursor = inp.cursor.model_copy(deep=True)
        if inp.carried is None:
            begun = await workflow.execute_local_activity_method(
                IngestionActivities.begin,
                BeginInput(job_id=inp.job_id, workflow_id=workflow.info().workflow_id, owner=inp.owner),
                **DB_STEP,
            )
            scope, cursor.counts, cursor.events = begun.scope, begun.counts, begun.events
            self.begin(scope.limit or 0, f"ingesting {scope.chat}")
            self._progress.details.update(ingestion_id=scope.job_id, chat=scope.chat)
        else:
            scope = inp.scope
            assert scope is not None  # a continued run always carries the scope its first run began
            self.continue_from(inp.carried, inp.carried.message)
        error = None
        pages = 0
        while not cursor.done and not self.cancel_requested:
            if pages >= inp.pages_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    inp.model_copy(update={"scope": scope, "cursor": cursor, "carried": self._progress})
                )
            try:
                outcome = await self._page(PageInput(scope=scope, before_id=cursor.before_id, counts=cursor.counts,
                                                     events=cursor.events))  # fmt: skip
            except ActivityError as exc:
                error = step_error(exc)
                self.record_error(f"messages before {cursor.before_id or 'the newest'}", error)
                break
            if outcome is None:
                break  # cancelled with the page under way: it rolled back
            pages += 1
            self._count(outcome, scope)
            cursor.before_id, cursor.done, cursor.pages = outcome.before_id, outcome.done, cursor.pages + 1
            cursor.counts, cursor.events = outcome.counts, outcome.events
        return await self._close(scope, cursor, error)

    async def _page(self, page: PageInput) -> PageOutcome | None:
        """One page's step, or None when a cancel stopped it (it has then stopped: nothing lands after)."""
        return await self.stoppable(
            workflow.execute_activity_method(
                IngestionActivities.ingest_page,
                page,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=READ_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        )

    def _count(self, outcome: PageOutcome, scope: IngestionScope) -> None:
        """Counts are absolute (the row's): a page found committed by an earlier attempt is not added twice."""
        p, new = self._progress, outcome.counts
        if p.total == 0 and outcome.chat_total is not None:
            p.total = min(outcome.chat_total, scope.limit or outcome.chat_total)
        self.advance(succeeded=new.saved - p.succeeded, skipped=(new.fetched - new.saved) - p.skipped)
        scored = p.details.get("scored", 0) + outcome.scored
        p.details.update(duplicates=new.skipped, service=new.service, scored=scored)
        self.set_current(None if outcome.done else f"messages before {outcome.before_id}")

    async def _close(self, scope: IngestionScope, cursor: Cursor, error: str | None) -> IngestResult:
        if error is not None:
            status = JobRecordStatus.failed
        else:
            status = JobRecordStatus.cancelled if self.cancel_requested else JobRecordStatus.completed
        finished = await self.unstoppable(
            workflow.execute_local_activity_method(
                IngestionActivities.finish,
                FinishInput(scope=scope, status=status, error=error, counts=cursor.counts, events=cursor.events),
                **DB_STEP,
            )
        )
        counts = finished.counts
        self._count(PageOutcome(before_id=cursor.before_id, done=True, counts=counts, events=finished.events), scope)
        p = self._progress
        if status == JobRecordStatus.completed:
            p.total = p.processed  # `since` and the end of the history come before any estimate
        summary = f"{counts.saved} saved, {counts.skipped} already there, {counts.service} service messages"
        final = self.fail(f"{error} ({summary})") if error is not None else self.finish(summary)
        return IngestResult(
            status=final,
            progress=p,
            ingestion_id=scope.job_id,
            chat=scope.chat,
            messages_fetched=counts.fetched,
            messages_saved=counts.saved,
            messages_skipped=counts.skipped,
            service_messages=counts.service,
            error=error,
        )


def ingestion_job(job_id: int, owner: str) -> JobRequest:
    return JobRequest(IngestMessagesWorkflow.run, IngestInput(job_id=job_id, owner=owner), JOB_TYPE, owner,
                      ingestion_job_id(job_id))  # fmt: skip
