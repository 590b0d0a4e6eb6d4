"""Jobs as the API sees them: start, snapshot, list, cancel, clean up — through Temporal, and past its retention
through the job records in Postgres.

While Temporal has a job it is the source of truth: the progress query while a job runs, the workflow result
once it has closed (readable with no worker alive), search attributes for listing and ownership,
pending activities for a step that is being retried. Once the namespace's retention has removed a closed job, its
record (api/job_records.py) answers in the same shape.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import HTTPException, status
from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal
from api.job_records import JobRecords
from api.job_retries import Retrying, RetryReader
from api.job_runs import input_of, started_new, started_with
from api.temporal import TemporalGateway
from db import job_records
from db.models import JobRecord
from workflows.base import (
    JOB_OWNER,
    JOB_STATUS,
    JOB_TYPE,
    TERMINAL,
    JobProgress,
    JobStatus,
    percent_of,
    root_cause,
)
from workflows.services import SERVICES, is_service
from workflows.start import SCHEDULE_OWNER, JobRequest, start_job
from workflows.tracker import WEBHOOK_OWNER

QUERY_TIMEOUT = timedelta(seconds=3)

# What Temporal says of a closed execution that did not return a JobResult.
# Keyed by a description's status, which Temporal may leave unset (None): that is no closed status.
CLOSED_STATUS: dict[WorkflowExecutionStatus | None, JobStatus] = {
    WorkflowExecutionStatus.FAILED: JobStatus.failed,
    WorkflowExecutionStatus.TIMED_OUT: JobStatus.failed,
    WorkflowExecutionStatus.TERMINATED: JobStatus.failed,
    WorkflowExecutionStatus.CANCELED: JobStatus.cancelled,
}

# A job's status filter in visibility terms; Temporal-level ends never update JobStatus.
STATUS_FILTER = {
    JobStatus.pending: "ExecutionStatus = 'Running' AND JobStatus = 'pending'",
    JobStatus.running: "ExecutionStatus = 'Running' AND JobStatus = 'running'",
    JobStatus.paused: "ExecutionStatus = 'Running' AND JobStatus = 'paused'",
    JobStatus.cancelling: "ExecutionStatus = 'Running' AND JobStatus = 'cancelling'",
    JobStatus.completed: "ExecutionStatus = 'Completed' AND JobStatus = 'completed'",
    JobStatus.failed: "(ExecutionStatus IN ('Failed', 'TimedOut', 'Terminated') OR JobStatus = 'failed')",
    JobStatus.cancelled: "(ExecutionStatus = 'Canceled' OR JobStatus = 'cancelled')",
}


# Runs whose last progress this process remembers (for the floor under their counts): a long-lived API stays small.
LAST_PROGRESS_SIZE = 10_000
# The counts a progress bar is drawn from; none of them may go down between two answers for one run.
COUNTS = ("processed", "succeeded", "skipped", "failed")
NO_WORKER = "no worker has answered for a while (one may be restarting): the last progress known"
# How many jobs one cancel-many signals at once: each is one signal to Temporal.
CANCEL_MANY_CONCURRENCY = 20
# How a run ends without running code of ours at its end, so without writing its record's end.
SILENT_ENDS = frozenset({WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.TIMED_OUT})
OPEN_STATUSES = frozenset({JobStatus.pending, JobStatus.running, JobStatus.paused, JobStatus.cancelling})
# `job` is what a person starts and waits for; `service` keeps an application working (workflows/services.py).
Kind = Literal["job", "service"]


def kind_of(job_type: str | None) -> Kind:
    return "service" if is_service(job_type) else "job"


class JobSnapshot(JobProgress):
    """What the API answers for a job: its progress with kind, owner and, once closed, its result."""

    job_id: str
    type: str
    owner: str
    kind: Kind = "job"
    # The workflow's result model as JSON (its fields depend on the job type); null while running.
    result: dict[str, Any] | None = None
    # Set while one of the job's steps is failing and being retried (from Temporal's pending activities).
    retrying: Retrying | None = None

    @property
    def closed(self) -> bool:
        return self.status in TERMINAL


class JobStarted(BaseModel):
    """The answer to every request that starts a job (202): poll `/api/v1/jobs/{job_id}` or watch its socket.

    `joined`: a job with this id was already running and nothing new started; `running_input` is what that job was
    started with (its period, its scope...), `running_since` when. It may be someone else's job: then it is not
    yours to read or cancel."""

    job_id: str
    joined: bool = False
    running_input: dict[str, Any] | None = None
    running_since: datetime | None = None


class JobSummary(BaseModel):
    """A job in a listing: from Temporal visibility, and a closed job's counts from its record. A running job's counts
    are None here: its snapshot (and socket) has them live."""

    job_id: str
    type: str | None
    owner: str | None
    kind: Kind = "job"
    status: JobStatus
    started_at: datetime | None
    closed_at: datetime | None
    total: int | None = None
    processed: int | None = None
    succeeded: int | None = None
    skipped: int | None = None
    failed: int | None = None


def summary_of(record: JobRecord) -> JobSummary:
    return JobSummary(
        job_id=record.job_id,
        type=record.job_type,
        owner=record.owner,
        kind=kind_of(record.job_type),
        status=JobStatus(record.status),
        started_at=record.started_at,
        closed_at=record.closed_at,
        **job_records.counts_in(record),
    )


def snapshot_of(
    job_id: str, job_type: str, owner: str, progress: dict, result: dict | None, retrying: Retrying | None = None
) -> JobSnapshot:
    return JobSnapshot(
        job_id=job_id, type=job_type, owner=owner, kind=kind_of(job_type), result=result, retrying=retrying, **progress
    )


# The owners that jobs started by no person carry (JobOwner). No account owns them by its name: not one made before
# the names were reserved for new users, nor an admin named so (bootstrap refuses that name); only admins see them.
UNATTENDED_OWNERS = frozenset({SCHEDULE_OWNER, WEBHOOK_OWNER})


def may_see(owner: str, who: Principal | None) -> bool:
    """Whether `who` may see a job run owned by `owner` (`who=None`: the API itself)."""
    return who is None or who.is_admin or (owner == who.username and owner not in UNATTENDED_OWNERS)


class JobNotFound(Exception):
    pass


class JobClosed(Exception):
    pass


class JobStillOpen(Exception):
    pass


class JobInputGone(Exception):
    """A closed job past retention whose input was too large to keep: it cannot be rerun."""


class ServiceNotCancellable(HTTPException):
    """A service's run is not a job to cancel (workflows/services.py): 409 from every route that cancels, saying why."""

    def __init__(self, what: str, job_type: str) -> None:
        super().__init__(
            status.HTTP_409_CONFLICT,
            f"{what} is a service, not a job: {SERVICES[job_type].does}; the jobs API does not cancel it",
        )


def services_clause() -> str:
    return f"JobType NOT IN ({', '.join(quote(t) for t in sorted(SERVICES))})"


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ProgressFloor:
    """The last progress answered for each run, so the counts answered for it never go down.

    A job's counts can be read lower than before without anything being undone: no worker answers the query (one
    was killed and its replacement is not up yet), or a step retried from its checkpoint reports less than the
    attempt before it. Keyed by (job id, run id): a job id is reused by later runs, each counting from zero."""

    def __init__(self, size: int = LAST_PROGRESS_SIZE) -> None:
        self._size = size
        self._last: dict[tuple[str, str], dict] = {}

    def raise_to_last(self, run: tuple[str, str], progress: dict) -> dict:
        last = self._last.get(run)
        if last is not None:
            progress = {**progress}
            for name in COUNTS:
                progress[name] = max(progress.get(name) or 0, last.get(name) or 0)
            total = progress.get("total") or 0
            if total and progress.get("status") not in TERMINAL:
                # From the floored count and the current total, not floored itself: a total that grew (more work
                # found) lowers it, and a floored 100% would claim the work done.
                progress["percent"] = percent_of(progress["processed"], total, JobStatus.running)
        self._remember(run, progress)
        return progress

    def last(self, run: tuple[str, str]) -> dict | None:
        return self._last.get(run)

    def forget(self, run: tuple[str, str]) -> None:
        self._last.pop(run, None)

    def _remember(self, run: tuple[str, str], progress: dict) -> None:
        self._last.pop(run, None)
        if len(self._last) >= self._size:
            self._last.pop(next(iter(self._last)))  # the least recently answered
        self._last[run] = progress


def no_poller(exc: RPCError) -> bool:
    """Temporal's quick answer for a job whose workers all went away some minutes ago ("no poller seen for task queue
    recently"), where a query to a queue never polled, or just left, waits out its timeout instead: the same news."""
    return exc.status == RPCStatusCode.FAILED_PRECONDITION and "no poller" in exc.message


class Jobs:
    """Every answer about a job comes from its current run: its owner and type from the run's search attributes,
    its progress from that run's query, its result from that run. Nothing is remembered from whoever started or
    asked before, since job ids with a natural key are reused by later runs (and joined by other people)."""

    def __init__(self, temporal: TemporalGateway, records: JobRecords) -> None:
        self._temporal = temporal
        self._records = records
        self._floor = ProgressFloor()
        self._retries = RetryReader()
        # Callers asking about one job at the same moment share one describe and one progress query.
        self._inflight: dict[str, asyncio.Future] = {}

    @property
    def records(self) -> JobRecords:
        return self._records

    async def start(self, job: JobRequest) -> str:
        """Start a job; with a natural `job_id`, starting it again returns the running one."""
        return (await self.launch(job)).job_id

    async def launch(self, job: JobRequest) -> JobStarted:
        """Start a job and say whether a running one with its id was joined instead (and what that one is doing)."""
        client = await self._temporal.client()
        handle = await start_job(client, self._temporal.settings, job)
        if started_new(handle):
            return JobStarted(job_id=handle.id)
        run = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
        running_input, since = await input_of(client, run)
        return JobStarted(job_id=handle.id, joined=True, running_input=running_input, running_since=since)

    async def snapshot(self, job_id: str, who: Principal | None) -> JobSnapshot:
        """Progress plus type and owner (and the result once closed). `who=None` skips the ownership check."""
        future = self._inflight.get(job_id)
        if future is None:
            future = asyncio.ensure_future(self._fetch(job_id))
            self._inflight[job_id] = future
            future.add_done_callback(lambda _: self._inflight.pop(job_id, None))
        # Shielded: one caller hanging up must not cancel the query the others wait on.
        snap = await asyncio.shield(future)
        self._check_owner(snap.owner, who)
        return snap

    async def _fetch(self, job_id: str) -> JobSnapshot:
        client = await self._temporal.client()
        try:
            desc, job_type, owner = await self._describe(client.get_workflow_handle(job_id))
        except JobNotFound:
            return self._recorded_snapshot(await self._recorded(job_id))
        # Bound to the run just described: a later run under the same id is another job.
        handle = client.get_workflow_handle(job_id, run_id=desc.run_id)
        run = (job_id, desc.run_id)
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return await self._closed_snapshot(handle, desc, job_type, owner)
        try:
            progress = await handle.query(
                "progress", reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
            )
        except WorkflowQueryRejectedError:
            return await self._closed_snapshot(handle, desc, job_type, owner)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise JobNotFound(job_id) from exc
            if exc.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED) and not no_poller(exc):
                raise
            # No worker answered in time: say so, with the counts already shown (never zeros in their place).
            progress = {**(self._floor.last(run) or {"status": JobStatus.pending.value}), "message": NO_WORKER}
        if JobProgress.model_validate(progress).status in TERMINAL:
            # The job has said its last word and is returning: answer with its result, so a caller
            # never sees a terminal status without one.
            return await self._closed_snapshot(handle, desc, job_type, owner)
        progress = self._floor.raise_to_last(run, progress)
        retrying = await self._retries.retrying(client, desc)
        return snapshot_of(job_id, job_type, owner, progress, None, retrying)

    async def _closed_snapshot(
        self, handle: WorkflowHandle, desc: WorkflowExecutionDescription, job_type: str, owner: str
    ) -> JobSnapshot:
        run = (handle.id, desc.run_id)
        try:
            result = await handle.result(rpc_timeout=QUERY_TIMEOUT)
            progress = self._floor.raise_to_last(run, dict(result["progress"]))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise JobNotFound(handle.id) from exc
            raise
        except WorkflowFailureError as exc:
            status = CLOSED_STATUS.get(desc.status, JobStatus.failed)
            error = root_cause(exc)
            progress = {**(self._floor.last(run) or {}), "status": status.value, "message": error}
            result = {"status": status.value, "error": error}
        if desc.status in SILENT_ENDS and desc.start_time is not None and desc.close_time is not None:
            # A run that wrote no end of its own gets it here; every other end was written by the job itself, so
            # reading a closed job costs the database nothing.
            await self._records.closed_by_temporal(
                job_id=handle.id,
                run_id=desc.run_id,
                job_type=job_type,
                owner=owner,
                started_at=desc.start_time,
                closed_at=desc.close_time,
                status=JobStatus(progress.get("status") or JobStatus.failed.value),
                progress=progress,
                result=result,
            )
        return snapshot_of(handle.id, job_type, owner, progress, result)

    async def _recorded(self, job_id: str) -> JobRecord:
        """The record of a job Temporal no longer has (JobNotFound if there is none)."""
        record = await self._records.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        return record

    @staticmethod
    def _recorded_snapshot(record: JobRecord) -> JobSnapshot:
        progress = {**(record.progress or {}), **job_records.counts_in(record), "status": record.status}
        progress.setdefault("started_at", record.started_at)
        progress.setdefault("updated_at", record.closed_at)
        progress.setdefault("message", record.error or "")
        return snapshot_of(record.job_id, record.job_type, record.owner, progress, record.result)

    async def list(
        self, who: Principal, job_type: str | None, status: JobStatus | None, limit: int, owner: str | None = None
    ) -> list[JobSummary]:
        """Jobs by type, status and owner, newest first; services only when `job_type` names one. Closed jobs Temporal
        no longer has (past retention) come from their records."""
        client = await self._temporal.client()
        jobs: list[JobSummary] = []
        silent_ends: list[tuple[str, str]] = []
        async for execution in client.list_workflows(self._filter(who, job_type, status, owner), limit=limit):
            sa = execution.typed_search_attributes
            if not may_see(sa.get(JOB_OWNER) or "", who):  # an unattended owner's name is nobody's
                continue
            if execution.status in SILENT_ENDS:
                silent_ends.append((execution.id, execution.run_id))
            recorded = JobStatus(sa.get(JOB_STATUS) or JobStatus.pending.value)
            closed_as = CLOSED_STATUS.get(execution.status)
            jobs.append(
                JobSummary(
                    job_id=execution.id,
                    type=sa.get(JOB_TYPE),
                    owner=sa.get(JOB_OWNER),
                    kind=kind_of(sa.get(JOB_TYPE)),
                    status=closed_as or recorded,
                    started_at=execution.start_time,
                    closed_at=execution.close_time,
                )
            )
        await self._record_silent_ends(silent_ends)
        counts = await self._records.closed_counts([job.job_id for job in jobs if job.closed_at is not None])
        jobs = [job.model_copy(update=counts[job.job_id]) if job.job_id in counts else job for job in jobs]
        if status is not None and status not in TERMINAL:
            return jobs
        records = await self._records.closed(
            limit=limit,
            job_type=job_type,
            left_out_types=() if job_type else tuple(SERVICES),
            statuses=[status.value] if status else None,
            owner=owner if who.is_admin else who.username,
            left_out_owners=() if who.is_admin else UNATTENDED_OWNERS,
        )
        if not who.is_admin and owner and owner != who.username:
            records = []  # a user asking for someone else's jobs sees none, as Temporal's listing answers
        listed = {job.job_id for job in jobs}
        past_retention = [summary_of(record) for record in records if record.job_id not in listed]
        if not past_retention:
            return jobs
        merged = sorted(jobs + past_retention, key=lambda job: job.started_at or datetime.min.replace(tzinfo=UTC))
        return merged[::-1][:limit]

    async def _record_silent_ends(self, runs: "list[tuple[str, str]]") -> None:
        """Write the end of listed runs that ended without writing it (terminated, timed out) while Temporal still
        has them, as reading each one does: a job nobody opens before retention passes keeps the end it had."""
        for job_id in await self._records.still_open(runs):
            try:
                await self.snapshot(job_id, None)
            except (JobNotFound, RPCError):  # gone or unreachable meanwhile: the next listing or reading tries again
                continue

    @staticmethod
    def _filter(who: Principal, job_type: str | None, status: JobStatus | None, owner: str | None) -> str:
        clauses = ["JobType IS NOT NULL"]
        clauses.append(f"JobType = {quote(job_type)}" if job_type else services_clause())
        if not who.is_admin:
            clauses.append(f"JobOwner = {quote(who.username)}")
        if owner:
            clauses.append(f"JobOwner = {quote(owner)}")
        if status:
            clauses.append(STATUS_FILTER[status])
        return " AND ".join(clauses)

    async def cancel(self, job_id: str, who: Principal, reason: str, force: bool) -> None:
        client = await self._temporal.client()
        # Describe, not the progress query: it answers at once even when every worker is busy.
        try:
            desc, job_type, owner = await self._describe(client.get_workflow_handle(job_id))
        except JobNotFound:
            self._check_owner((await self._recorded(job_id)).owner, who)
            raise JobClosed(job_id) from None
        self._check_owner(owner, who)
        if is_service(job_type):
            raise ServiceNotCancellable(f"job {job_id!r}", job_type)
        if desc.status != WorkflowExecutionStatus.RUNNING:
            raise JobClosed(job_id)
        # The run whose owner was checked, not whatever run holds the id by the time the signal lands.
        handle = client.get_workflow_handle(job_id, run_id=desc.run_id)
        try:
            if force:
                await handle.cancel()
            else:
                await handle.signal("cancel", reason or f"cancelled by {who.username}")
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise JobClosed(job_id) from exc
            raise

    async def input_of_closed(self, job_id: str, who: Principal) -> tuple[str, Any]:
        """The type of a closed job and the input its last run was started with (JobStillOpen while it runs)."""
        client = await self._temporal.client()
        try:
            desc, job_type, owner = await self._describe(client.get_workflow_handle(job_id))
        except JobNotFound:
            record = await self._recorded(job_id)
            self._check_owner(record.owner, who)
            if record.input is None:
                raise JobInputGone(job_id) from None
            return record.job_type, record.input
        self._check_owner(owner, who)
        if desc.status == WorkflowExecutionStatus.RUNNING:
            raise JobStillOpen(job_id)
        value, _ = await started_with(client, client.get_workflow_handle(job_id, run_id=desc.run_id))
        return job_type, value

    async def cancel_many(
        self, who: Principal, job_type: str | None, status: JobStatus | None, owner: str | None, reason: str
    ) -> "list[str]":
        """Send the cancel signal to every open job the filters match (services never); answers the ids signalled.

        A job that closes between the listing and its signal is passed over, not an error."""
        if is_service(job_type):
            assert job_type is not None
            raise ServiceNotCancellable(f"type {job_type!r}", job_type)
        client = await self._temporal.client()
        query = self._filter(who, job_type, status, owner) + " AND ExecutionStatus = 'Running'"
        runs = [(e.id, e.run_id) async for e in client.list_workflows(query)]
        slots = asyncio.Semaphore(CANCEL_MANY_CONCURRENCY)

        async def cancel_one(job_id: str, run_id: str | None) -> str | None:
            async with slots:
                try:
                    await client.get_workflow_handle(job_id, run_id=run_id).signal("cancel", reason)
                except RPCError as exc:
                    if exc.status == RPCStatusCode.NOT_FOUND:  # closed meanwhile
                        return None
                    raise
                return job_id

        signalled = await asyncio.gather(*(cancel_one(job_id, run_id) for job_id, run_id in runs))
        return [job_id for job_id in signalled if job_id is not None]

    async def signal(self, job_id: str, name: str) -> None:
        """A domain signal (a migration's pause or resume) to a running job; JobClosed if none runs."""
        handle = (await self._temporal.client()).get_workflow_handle(job_id)
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                raise JobClosed(job_id)
            await handle.signal(name)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise JobNotFound(job_id) from exc
            raise

    async def cleanup(self, max_age_hours: float) -> int:
        """Delete closed jobs older than `max_age_hours`, their records too; returns how many."""
        client = await self._temporal.client()
        cutoff = datetime.now(UTC) - timedelta(hours=max_age_hours)
        before = cutoff.isoformat()
        query = f"JobType IS NOT NULL AND ExecutionStatus != 'Running' AND CloseTime < {quote(before)}"
        deleted = 0
        seen: set[str] = set()
        async for execution in client.list_workflows(query):
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=execution.id, run_id=execution.run_id),
                )
            )
            self._floor.forget((execution.id, execution.run_id))
            seen.add(execution.id)
            deleted += 1
        # Past retention a job is its record alone: counted once, whether Temporal still had it or not.
        forgotten = await self._records.delete_closed_before(cutoff)
        return deleted + len(set(forgotten) - seen)

    @staticmethod
    async def _describe(handle: WorkflowHandle) -> tuple[WorkflowExecutionDescription, str, str]:
        """The job's current run with its type and owner, as that run carries them."""
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise JobNotFound(handle.id) from exc
            raise
        sa = desc.typed_search_attributes
        job_type = sa.get(JOB_TYPE)
        if job_type is None:
            raise JobNotFound(handle.id)
        return desc, job_type, sa.get(JOB_OWNER) or ""

    @staticmethod
    def _check_owner(owner: str, who: Principal | None) -> None:
        # Another user's job is reported as missing, so job ids reveal nothing.
        if not may_see(owner, who):
            raise JobNotFound
