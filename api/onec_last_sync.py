"""The last finished sync of each 1C kind, read from Temporal: each kind runs under one job id, so its closed runs are
its syncs, the newest first. Once Temporal no longer keeps them (the namespace's retention), the job's record says
what the last one did (api/job_records.py)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowFailureError

from api.job_records import JobRecords
from api.jobs import CLOSED_STATUS, QUERY_TIMEOUT, quote
from db.models import JobRecord
from workflows.base import JobStatus, root_cause

# Closed runs read to find the newest: visibility answers newest first, a few more guard against a tie in order.
RUNS_READ = 5


class SyncCounts(BaseModel):
    """What the sync did to the books: rows read from 1C, created, updated, skipped (unchanged), marked deleted,
    failed (could not be stored), and classified (by a rule, by the LLM; `classified` is both)."""

    loaded: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    classified: int = 0
    classified_by_rule: int = 0
    classified_by_llm: int = 0


class LastSync(BaseModel):
    status: JobStatus  # completed, failed or cancelled: the run has ended
    started_at: datetime | None
    finished_at: datetime | None
    # The bank documents' period (null for contractors).
    date_from: str | None = None
    date_to: str | None = None
    # Null when the sync failed before it could report them.
    counts: SyncCounts | None
    # Why it failed, or the cancel's reason; null when it completed.
    error: str | None


class SyncKind(BaseModel):
    kind: Literal["bank-transactions", "contractors"]
    job_id: str
    # A sync of this kind is under way now (its progress: `/api/v1/tasks/{job_id}`, if it is the caller's).
    running: bool
    last: LastSync | None


async def sync_kind(
    client: Client, records: JobRecords, kind: Literal["bank-transactions", "contractors"], job_id: str
) -> SyncKind:
    running, closed = False, []
    async for execution in client.list_workflows(f"WorkflowId = {quote(job_id)}", limit=RUNS_READ + 1):
        if execution.status == WorkflowExecutionStatus.RUNNING:
            running = True
        else:
            closed.append(execution)
    newest = max(closed, key=lambda e: e.close_time or e.start_time, default=None)
    if newest is not None:
        last = await last_of(client, newest)
    else:
        # Read only when closed: an open record may be a run visibility does not list yet.
        record = await records.closed_record(job_id)
        last = last_recorded(record) if record is not None else None
    return SyncKind(kind=kind, job_id=job_id, running=running, last=last)


def last_recorded(record: JobRecord) -> LastSync:
    times = {"started_at": record.started_at, "finished_at": record.closed_at}
    result = record.result or {}
    if "progress" not in result:  # it ended by failing or being stopped, with no result of its own
        return LastSync(status=JobStatus(record.status), counts=None, error=record.error, **times)
    return from_result(result, times)


async def last_of(client: Client, run: WorkflowExecution) -> LastSync:
    handle = client.get_workflow_handle(run.id, run_id=run.run_id)
    times = {"started_at": run.start_time, "finished_at": run.close_time}
    try:
        result: dict[str, Any] = await handle.result(rpc_timeout=QUERY_TIMEOUT)
    except WorkflowFailureError as exc:
        status = CLOSED_STATUS.get(run.status, JobStatus.failed)
        return LastSync(status=status, counts=None, error=root_cause(exc), **times)
    return from_result(result, times)


def from_result(result: dict[str, Any], times: dict[str, Any]) -> LastSync:
    counts = SyncCounts.model_validate(result)
    counts.classified = counts.classified_by_rule + counts.classified_by_llm
    status = JobStatus(result["status"])
    message = (result.get("progress") or {}).get("message") or None
    return LastSync(
        status=status,
        date_from=result.get("date_from"),
        date_to=result.get("date_to"),
        counts=counts,
        error=message if status != JobStatus.completed else None,
        **times,
    )
