"""Every job writes its record in Postgres when it starts and when it closes, so a closed job outlives the namespace's
retention (db/job_records.py; docs/production.md, "Jobs past retention").

A worker interceptor does it around every job workflow's run, whoever started the job: the API, an activity, or a
Temporal Schedule (whose start runs no code of ours, so only the workflow side can write it). A job is a workflow
that carries the `JobType` search attribute (workflows/start.py); housekeeping workflows carry none and are left
alone. The two writes are local activities (a short database step, retried until the database answers), behind
`workflow.patched(PATCH)` so that runs begun before this release replay as they ran.

Continue-as-new is not a close: the next run writes its start, which keeps the first run's start time and input.
A failure and a cancellation are written on the way out. A terminated or timed-out run runs no code at its end:
the API corrects its record when Temporal says so (api/jobs.py).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import FailureError, is_cancelled_exception
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from workflows.base import DB_STEP, JOB_OWNER, JOB_TYPE, JobStatus, JobWorkflow, root_cause, shielded

PATCH = "job-record"
START = "record_job_start"
CLOSE = "record_job_close"


class JobRun(BaseModel):
    """Which job and which run a record write is about."""

    job_id: str
    first_run_id: str
    run_id: str
    job_type: str
    owner: str
    started_at: datetime


class RecordStart(BaseModel):
    run: JobRun
    # The input the run was started with, as plain JSON values (the record keeps it if it is small enough).
    input: Any = None


class RecordClose(BaseModel):
    run: JobRun
    status: JobStatus
    # The progress at the end (counts, message, errors) and the result as JSON; the error for a failed job.
    progress: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    closed_at: datetime


class JobRecordInterceptor(Interceptor):
    """Wired into the worker (worker.py) and the replayer (tests/test_replay.py): both must run the same commands."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _RecordJob


class _RecordJob(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        job_type = info.typed_search_attributes.get(JOB_TYPE)
        if job_type is None or not workflow.patched(PATCH):
            return await super().execute_workflow(input)
        run = JobRun(
            job_id=info.workflow_id,
            first_run_id=info.first_execution_run_id,
            run_id=info.run_id,
            job_type=job_type,
            owner=info.typed_search_attributes.get(JOB_OWNER) or "",
            started_at=info.start_time,
        )
        try:
            await _write(START, RecordStart(run=run, input=_plain(input.args[0]) if input.args else None))
            result = await super().execute_workflow(input)
        except (Exception, asyncio.CancelledError) as exc:
            # What the SDK makes of it (worker/_workflow_instance.py): a cancellation cancels the run (a job lets
            # one escape only after Temporal's cancel), a FailureError fails it; anything else fails only the
            # workflow task, which is retried: no close.
            if is_cancelled_exception(exc):
                await _write(CLOSE, _ended(run, JobStatus.cancelled, root_cause(exc) or "cancelled"))
            elif isinstance(exc, FailureError):
                await _write(CLOSE, _ended(run, JobStatus.failed, root_cause(exc)))
            raise
        await _write(CLOSE, _closed(run, result))
        return result


async def _write(step: str, arg: BaseModel) -> None:
    """Run one write to its end even when Temporal cancels the job meanwhile, then hand the cancel to the job (as
    `JobWorkflow.unstoppable` does): a cancel during the start write is acted on by the job as any other, and one
    during the close write comes after the job has ended (its result stands). A job not built on JobWorkflow gets
    the cancel raised once the write is done."""
    cancels: list[None] = []
    await shielded(workflow.execute_local_activity(step, arg, **DB_STEP), lambda: cancels.append(None))
    if cancels:
        instance = workflow.instance()
        if not isinstance(instance, JobWorkflow):
            raise asyncio.CancelledError
        instance.request_cancel("cancelled through Temporal")


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _last_progress() -> dict[str, Any]:
    instance = workflow.instance()
    return instance.progress().model_dump(mode="json") if isinstance(instance, JobWorkflow) else {}


def _ended(run: JobRun, status: JobStatus, error: str) -> RecordClose:
    """A run that ended by raising: its last progress, and the result the API answers for such a run."""
    progress = {**_last_progress(), "status": status.value, "message": error, "current": None}
    result = {"status": status.value, "error": error}
    return RecordClose(run=run, status=status, progress=progress, result=result, error=error, closed_at=workflow.now())


def _closed(run: JobRun, result: Any) -> RecordClose:
    plain = _plain(result)
    if not isinstance(plain, dict):
        plain = {"value": plain}
    carried = plain.get("progress")
    progress: dict[str, Any] = carried if isinstance(carried, dict) else _last_progress()
    try:
        status = JobStatus(plain.get("status") or progress.get("status"))
    except ValueError:
        status = JobStatus.completed
    error = (progress.get("message") or "failed") if status == JobStatus.failed else None
    return RecordClose(run=run, status=status, progress=progress, result=plain, error=error, closed_at=workflow.now())
