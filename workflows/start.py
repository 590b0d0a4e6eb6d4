"""How every job is started, by the API, by activities and by schedules: one place decides its id,
search attributes, task queue (its kind's) and workflow task timeout, all from settings.

Not workflow code: nothing here runs inside a workflow, so the sandbox never imports it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.workflow import _Definition

from runtime.metrics import JOB_STARTS
from runtime.queues import QueueKind, queue_name
from settings import Settings
from workflows.base import JOB_OWNER, JOB_STATUS, JOB_TYPE, JobStatus

# Whose jobs a schedule starts: no person's.
SCHEDULE_OWNER = "schedule"


@dataclass(frozen=True)
class JobRequest:
    """A job to start: its workflow (run method or type name), input, kind and owner.

    `job_id` is the natural key where the domain has one (`webbuddy-query-7`): starting the same
    job again then returns the running one instead of doing the work twice.
    """

    run: Any
    arg: Any
    job_type: str
    owner: str
    job_id: str | None = None

    def id(self) -> str:
        return self.job_id or f"{self.job_type.replace('_', '-')}-{uuid.uuid4().hex[:12]}"


def job_attributes(job_type: str, owner: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(JOB_TYPE, job_type),
            SearchAttributePair(JOB_OWNER, owner),
            SearchAttributePair(JOB_STATUS, JobStatus.pending.value),
        ]
    )


def job_queue(settings: Settings, run: Any) -> str:
    """The task queue of a job of workflow `run` (its run method, or its class): the queue of the kind its class
    declares (`queue_kind`). A workflow that declares none (the benches' own), or one named only by its type name,
    runs on the deployment's base queue, which the interactive workers poll too (runtime/queues.py)."""
    if isinstance(run, str):
        return settings.task_queue
    cls = run if isinstance(run, type) else _Definition.must_from_run_fn(run).cls
    kind: QueueKind | None = getattr(cls, "queue_kind", None)
    return settings.task_queue if kind is None else queue_name(settings.task_queue, kind)


def task_timeout(settings: Settings) -> timedelta:
    # A worker killed inside a workflow task is noticed after this long (docs/recovery.md).
    return timedelta(seconds=settings.workflow_task_timeout_seconds)


async def start_job(client: Client, settings: Settings, job: JobRequest, signal: str | None = None) -> WorkflowHandle:
    """Start a job; a running job with the same id is returned as it is.

    With `signal`, the job is also sent that signal (signal-with-start): a running job learns of the new request
    instead of missing it, and one that has just finished is started again.
    """
    JOB_STARTS.labels(type=job.job_type).inc()
    return await client.start_workflow(
        job.run,
        job.arg,
        id=job.id(),
        task_queue=job_queue(settings, job.run),
        task_timeout=task_timeout(settings),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=job_attributes(job.job_type, job.owner),
        start_signal=signal,
    )


def scheduled(settings: Settings, run: Any, arg: Any, *, workflow_id: str, job: tuple[str, str] | None = None):
    """The action of a Temporal Schedule: the same queue and timeouts as any other start (an existing schedule is
    brought to its kind's queue by the next worker's `ensure_schedules`).

    `job` is (job type, owner) when what the schedule starts is a job (listed, with progress);
    housekeeping workflows such as the WebBuddy reconcile sweep are not.
    """
    return ScheduleActionStartWorkflow(
        run,
        arg,
        id=workflow_id,
        task_queue=job_queue(settings, run),
        task_timeout=task_timeout(settings),
        typed_search_attributes=job_attributes(*job) if job else TypedSearchAttributes.empty,
    )
