"""The job protocol every long-operation workflow follows.

A job keeps a `JobProgress` in workflow state and answers it from the `progress`
query (queries add nothing to history, so polling is free), accepts the `cancel`
signal, and treats Temporal's own cancellation the same way: stop taking new items,
cancel in-flight activities, wait for them to acknowledge, and return a result whose
status is `cancelled`. Domain workflows subclass `JobWorkflow`; extend it, never fork it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

JOB_TYPE = SearchAttributeKey.for_keyword("JobType")
JOB_OWNER = SearchAttributeKey.for_keyword("JobOwner")
JOB_STATUS = SearchAttributeKey.for_keyword("JobStatus")
# What the namespace must have before a job starts (a worker checks at start: runtime/search_attributes.py).
JOB_ATTRIBUTES = (JOB_TYPE, JOB_OWNER, JOB_STATUS)

# A dead worker's activity is retried elsewhere after this long without a heartbeat; activities
# heartbeat at a third of it. Detection is the largest part of recovery: 2 s keeps a replacement's
# next item within the 5 s target (bench/recovery.py; docs/recovery.md).
HEARTBEAT_TIMEOUT = timedelta(seconds=2)
# A short database step (a local activity: a claim, a page's rows, a row's status), retried until the database
# answers: giving up would strand what the step was to record.
DB_STEP = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=10)),
}
MAX_ERRORS = 20
# What a progress bar is drawn from: the progress query never answers less for any of them than it did before.
# Not the percent: a job whose total grows as it goes (it finds more work) would show 100% with work left; the percent
# is drawn from the shown counts and the current total (`percent_of`).
MONOTONIC = ("processed", "succeeded", "skipped", "failed")

T = TypeVar("T")
R = TypeVar("R")


class JobStatus(StrEnum):
    pending = "pending"
    running = "running"
    paused = "paused"  # keeps its place until resumed (the jobs that can pause say so)
    cancelling = "cancelling"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.cancelled})


def percent_of(processed: float, total: int, status: JobStatus) -> float:
    return round(100.0 * processed / total, 2) if total else (100.0 if status in TERMINAL else 0.0)


class JobError(BaseModel):
    item: str
    error: str


class JobProgress(BaseModel):
    status: JobStatus = JobStatus.pending
    total: int = 0
    processed: int = 0
    succeeded: int = 0
    skipped: int = 0
    failed: int = 0
    percent: float = 0.0
    message: str = ""
    current: str | None = None
    errors: list[JobError] = Field(default_factory=list)
    started_at: datetime | None = None
    updated_at: datetime | None = None
    eta_seconds: float | None = None
    # What only this kind of job knows (a WebBuddy query's stage, the logs it wrote...).
    details: dict[str, Any] = Field(default_factory=dict)


class JobResult(BaseModel):
    """What every job returns; domain results add their own counts."""

    status: JobStatus
    progress: JobProgress


async def shielded(step: Awaitable[R], on_cancel: Callable[[], None]) -> R:
    """Await `step` to its end even when Temporal cancels the workflow meanwhile, calling `on_cancel` for each cancel
    that arrives (the step itself is cancelled only if something cancelled it directly)."""
    task = asyncio.ensure_future(step)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            on_cancel()


class JobWorkflow:
    """Base class holding the progress, the query, the cancel signal and the bounded parallel runner."""

    def __init__(self) -> None:
        self._progress = JobProgress()
        self._cancel_reason: str | None = None
        # The highest value each count has had: workflow state, rebuilt identically on replay by a replacement worker.
        self._shown: dict[str, float] = dict.fromkeys(MONOTONIC, 0)

    @workflow.query
    def progress(self) -> JobProgress:
        """The progress, with counts never below what was shown before.

        Workflows that count from a step's absolute totals (`advance(succeeded=new.saved - p.succeeded)`) lower a
        count when a retried step reports less than the attempt before it (from its checkpoint, or after a pause).
        The workflow keeps its own counts (its next deltas are computed from them); what it shows only goes up."""
        p = self._progress
        higher = {name: value for name, value in self._shown.items() if value > getattr(p, name)}
        if not higher:
            return p
        higher["percent"] = percent_of(higher.get("processed", p.processed), p.total, p.status)
        return p.model_copy(update=higher)

    @workflow.signal
    def cancel(self, reason: str = "") -> None:
        self.request_cancel(reason or "cancelled by user")

    # -- state changes -------------------------------------------------------------------------

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_reason is not None

    def request_cancel(self, reason: str) -> None:
        if self.cancel_requested or self._progress.status in TERMINAL:
            return
        self._cancel_reason = reason
        self._set_status(JobStatus.cancelling, f"cancelling: {reason}")

    def begin(self, total: int, message: str = "") -> None:
        """Start counting toward `total`."""
        self._progress.started_at = workflow.now()
        self._progress.total = total
        self._set_status(JobStatus.running, message)

    def continue_from(self, carried: JobProgress, message: str = "") -> None:
        """Go on counting where the previous run of this job left off (after continue-as-new)."""
        self._progress = carried.model_copy(deep=True)
        self._set_status(JobStatus.running, message)

    def mark_paused(self, message: str) -> None:
        if self._progress.status == JobStatus.running:
            self._set_status(JobStatus.paused, message)

    def mark_running(self, message: str) -> None:
        if self._progress.status == JobStatus.paused:
            self._set_status(JobStatus.running, message)

    def set_current(self, current: str | None, message: str | None = None) -> None:
        self._progress.current = current
        if message is not None:
            self._progress.message = message
        self._touch()

    def advance(self, *, succeeded: int = 0, skipped: int = 0, failed: int = 0) -> None:
        p = self._progress
        p.succeeded += succeeded
        p.skipped += skipped
        p.failed += failed
        p.processed += succeeded + skipped + failed
        self._touch()

    def record_error(self, item: str, error: str) -> None:
        self._progress.errors = [*self._progress.errors, JobError(item=item, error=error)][-MAX_ERRORS:]
        self._touch()

    def finish(self, message: str = "") -> JobStatus:
        """Close the job: `cancelled` if a cancel came, else `completed`; returns the status."""
        status = JobStatus.cancelled if self.cancel_requested else JobStatus.completed
        if self.cancel_requested:
            message = "; ".join(filter(None, [self._cancel_reason, message]))
        self._progress.current = None
        self._set_status(status, message)
        return status

    def fail(self, message: str) -> JobStatus:
        self._progress.current = None
        self._set_status(JobStatus.failed, message)
        return JobStatus.failed

    def _set_status(self, status: JobStatus, message: str | None) -> None:
        if status != self._progress.status:
            workflow.upsert_search_attributes([JOB_STATUS.value_set(status.value)])
        self._progress.status = status
        if message is not None:
            self._progress.message = message
        self._touch()

    def _touch(self) -> None:
        p = self._progress
        now = workflow.now()
        p.updated_at = now
        p.percent = percent_of(p.processed, p.total, p.status)
        p.eta_seconds = None
        if p.started_at and 0 < p.processed < p.total and p.status == JobStatus.running:
            elapsed = (now - p.started_at).total_seconds()
            p.eta_seconds = round(elapsed / p.processed * (p.total - p.processed), 1)
        for name in MONOTONIC:
            self._shown[name] = max(self._shown[name], getattr(p, name))

    # -- running items -------------------------------------------------------------------------

    async def wait(self, condition: Callable[[], bool]) -> None:
        """`workflow.wait_condition` that turns Temporal's cancellation into the cancel signal."""
        try:
            await workflow.wait_condition(condition)
        except asyncio.CancelledError:
            self.request_cancel("cancelled through Temporal")

    async def stoppable(self, step: Awaitable[R], stop: Callable[[], bool] | None = None) -> R | None:
        """Await a step (an activity) unless a cancel, or `stop()`, comes first: the step is then cancelled and
        awaited until it has stopped (with `WAIT_CANCELLATION_COMPLETED`, nothing it writes lands after).

        None when it was stopped and ended without a result; its failure is raised when nothing stopped it. A step
        that finished before the stop took effect answers its result."""
        stopping = stop or (lambda: self.cancel_requested)
        task = asyncio.ensure_future(step)
        await self.wait(lambda: task.done() or stopping())
        if not task.done():
            task.cancel()
        try:
            return await task
        except BaseException:
            if stopping():
                return None
            raise

    async def unstoppable(self, step: Awaitable[R]) -> R:
        """Await a step that must reach its end even when Temporal cancels the job.

        For steps that leave a row half-owned if abandoned midway: a claim whose commit lands after
        the run has ended would hold the row for ever. Temporal's cancel is remembered as the cancel
        signal and acted on once the step has returned.
        """
        return await shielded(step, lambda: self.request_cancel("cancelled through Temporal"))

    async def run_bounded(
        self,
        items: Sequence[T],
        start: Callable[[T], Awaitable[R]],
        on_done: Callable[[T, R | BaseException], Any],
        max_parallel: int,
    ) -> None:
        """Run `start(item)` for each item, at most `max_parallel` at once, calling `on_done` as each ends.

        On cancel no new item starts; in-flight ones are cancelled and awaited, and reach
        `on_done` with a `CancelledError` (or their result, if they finished first).
        """
        queue = list(items)
        running: dict[asyncio.Task, T] = {}
        cancelled_inflight = False
        while queue or running:
            while queue and len(running) < max_parallel and not self.cancel_requested:
                item = queue.pop(0)
                running[asyncio.ensure_future(start(item))] = item
            if not running:
                break
            await self.wait(
                lambda handled=cancelled_inflight: (
                    any(t.done() for t in running) or (self.cancel_requested and not handled)
                )
            )
            if self.cancel_requested and not cancelled_inflight:
                cancelled_inflight = True
                for task in running:
                    task.cancel()
            for task in [t for t in running if t.done()]:
                item = running.pop(task)
                on_done(item, task_outcome(task))


def task_outcome(task: asyncio.Task) -> Any:
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception() or task.result()


def root_cause(exc: BaseException) -> str:
    """The innermost message of an activity failure: what a person wants to read in `errors`."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return str(exc) or type(exc).__name__
