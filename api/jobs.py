"""Jobs as the API sees them: start, snapshot, list, cancel, clean up — all through Temporal.

Job state lives in Temporal only: the progress query while a job runs, the workflow result
once it has closed (readable with no worker alive), search attributes for listing.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal
from api.temporal import TemporalGateway
from workflows.base import JOB_OWNER, JOB_STATUS, JOB_TYPE, TERMINAL, JobProgress, JobStatus, root_cause
from workflows.start import JobRequest, start_job

QUERY_TIMEOUT = timedelta(seconds=3)

# What Temporal says of a closed execution that did not return a JobResult.
CLOSED_STATUS = {
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


META_CACHE_SIZE = 10_000


class JobSnapshot(JobProgress):
    """What the API answers for a job: its progress with kind, owner and, once closed, its result."""

    job_id: str
    type: str
    owner: str
    # The workflow's result model as JSON (its fields depend on the job type); null while running.
    result: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        return self.status in TERMINAL


class JobStarted(BaseModel):
    """The answer to every request that starts a job (202): poll `/api/v1/jobs/{job_id}` or watch its socket."""

    job_id: str


class JobSummary(BaseModel):
    """A job in a listing: from Temporal visibility, so no progress counts."""

    job_id: str
    type: str | None
    owner: str | None
    status: JobStatus
    started_at: datetime | None
    closed_at: datetime | None


def snapshot_of(job_id: str, job_type: str, owner: str, progress: dict, result: dict | None) -> JobSnapshot:
    return JobSnapshot(job_id=job_id, type=job_type, owner=owner, result=result, **progress)


class JobNotFound(Exception):
    pass


class JobClosed(Exception):
    pass


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Jobs:
    def __init__(self, temporal: TemporalGateway) -> None:
        self._temporal = temporal
        # Type and owner never change: no need to ask twice. (Closed results are not cached:
        # cleanup in any API process must make a job disappear everywhere.)
        self._meta: dict[str, tuple[str, str]] = {}
        # Callers asking about one job at the same moment share one progress query.
        self._inflight: dict[str, asyncio.Future] = {}

    async def start(self, job: JobRequest) -> str:
        """Start a job; with a natural `job_id`, starting it again returns the running one."""
        handle = await start_job(await self._temporal.client(), self._temporal.settings, job)
        self._remember(handle.id, job.job_type, job.owner)
        return handle.id

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
        handle = await self._handle(job_id)
        job_type, owner = await self._type_and_owner(handle)
        try:
            progress = await handle.query(
                "progress", reject_condition=QueryRejectCondition.NOT_OPEN, rpc_timeout=QUERY_TIMEOUT
            )
        except WorkflowQueryRejectedError:
            return await self._closed_snapshot(handle, job_type, owner)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                self._meta.pop(job_id, None)
                raise JobNotFound(job_id) from exc
            if exc.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
            # No worker answered in time: say so instead of failing the caller.
            progress = {
                "status": JobStatus.pending.value,
                "message": "waiting for a worker to pick the job up",
            }
        if JobProgress.model_validate(progress).status in TERMINAL:
            # The job has said its last word and is returning: answer with its result, so a caller
            # never sees a terminal status without one.
            return await self._closed_snapshot(handle, job_type, owner)
        return snapshot_of(job_id, job_type, owner, progress, None)

    async def _closed_snapshot(self, handle: WorkflowHandle, job_type: str, owner: str) -> JobSnapshot:
        try:
            result = await handle.result(rpc_timeout=QUERY_TIMEOUT)
            progress = dict(result["progress"])
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                self._meta.pop(handle.id, None)
                raise JobNotFound(handle.id) from exc
            raise
        except WorkflowFailureError as exc:
            status = CLOSED_STATUS.get((await handle.describe()).status, JobStatus.failed)
            error = root_cause(exc)
            progress = {"status": status.value, "message": error}
            result = {"status": status.value, "error": error}
        return snapshot_of(handle.id, job_type, owner, progress, result)

    async def list(
        self, who: Principal, job_type: str | None, status: JobStatus | None, limit: int
    ) -> list[JobSummary]:
        client = await self._temporal.client()
        clauses = ["JobType IS NOT NULL"]
        if job_type:
            clauses.append(f"JobType = {quote(job_type)}")
        if not who.is_admin:
            clauses.append(f"JobOwner = {quote(who.username)}")
        if status:
            clauses.append(STATUS_FILTER[status])
        jobs = []
        async for execution in client.list_workflows(" AND ".join(clauses), limit=limit):
            sa = execution.typed_search_attributes
            recorded = JobStatus(sa.get(JOB_STATUS) or JobStatus.pending.value)
            closed_as = CLOSED_STATUS.get(execution.status)
            jobs.append(
                JobSummary(
                    job_id=execution.id,
                    type=sa.get(JOB_TYPE),
                    owner=sa.get(JOB_OWNER),
                    status=closed_as or recorded,
                    started_at=execution.start_time,
                    closed_at=execution.close_time,
                )
            )
        return jobs

    async def cancel(self, job_id: str, who: Principal, reason: str, force: bool) -> None:
        handle = await self._handle(job_id)
        _, owner = await self._type_and_owner(handle)
        self._check_owner(owner, who)
        # Describe, not the progress query: it answers at once even when every worker is busy.
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            raise JobClosed(job_id)
        try:
            if force:
                await handle.cancel()
            else:
                await handle.signal("cancel", reason or f"cancelled by {who.username}")
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise JobClosed(job_id) from exc
            raise

    async def signal(self, job_id: str, name: str) -> None:
        """A domain signal (a migration's pause or resume) to a running job; JobClosed if none runs."""
        handle = await self._handle(job_id)
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                raise JobClosed(job_id)
            await handle.signal(name)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise JobNotFound(job_id) from exc
            raise

    async def cleanup(self, max_age_hours: float) -> int:
        """Delete closed jobs older than `max_age_hours`; returns how many."""
        client = await self._temporal.client()
        before = (datetime.now(UTC) - timedelta(hours=max_age_hours)).isoformat()
        query = f"JobType IS NOT NULL AND ExecutionStatus != 'Running' AND CloseTime < {quote(before)}"
        deleted = 0
        async for execution in client.list_workflows(query):
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=execution.id, run_id=execution.run_id),
                )
            )
            self._meta.pop(execution.id, None)
            deleted += 1
        return deleted

    async def _handle(self, job_id: str) -> WorkflowHandle:
        return (await self._temporal.client()).get_workflow_handle(job_id)

    async def _type_and_owner(self, handle: WorkflowHandle) -> tuple[str, str]:
        if handle.id not in self._meta:
            try:
                desc = await handle.describe()
            except RPCError as exc:
                if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                    raise JobNotFound(handle.id) from exc
                raise
            sa = desc.typed_search_attributes
            if sa.get(JOB_TYPE) is None:
                raise JobNotFound(handle.id)
            self._remember(handle.id, sa.get(JOB_TYPE), sa.get(JOB_OWNER) or "")
        return self._meta[handle.id]

    def _remember(self, job_id: str, job_type: str, owner: str) -> None:
        if len(self._meta) >= META_CACHE_SIZE:
            self._meta.pop(next(iter(self._meta)))  # the oldest entry: a long-lived API stays small
        self._meta[job_id] = (job_type, owner)

    @staticmethod
    def _check_owner(owner: str, who: Principal | None) -> None:
        # Another user's job is reported as missing, so job ids reveal nothing.
        if who is not None and not who.is_admin and owner != who.username:
            raise JobNotFound
