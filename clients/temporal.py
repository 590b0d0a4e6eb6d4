"""One way to reach Temporal, shared by the worker, the API and the tools: pydantic payloads everywhere."""

from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RetryConfig

from settings import Settings
from workflows.base import JOB_OWNER, JOB_STATUS, JOB_TYPE, JobStatus

# A person waits on the API: during a Temporal outage it answers within ~2 s instead of the
# SDK's default of retrying for 10 s.
API_RETRIES = RetryConfig(max_elapsed_time_millis=2000, max_retries=4)


async def connect(settings: Settings, retry: RetryConfig | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        retry_config=retry,
    )


async def start_job(
    client: Client,
    run: Any,
    arg: Any,
    *,
    job_id: str,
    job_type: str,
    owner: str,
    task_queue: str,
    task_timeout: timedelta = timedelta(seconds=3),
) -> WorkflowHandle:
    """Start a job workflow with its search attributes; a running job with the same id is returned as is."""
    return await client.start_workflow(
        run,
        arg,
        id=job_id,
        task_queue=task_queue,
        task_timeout=task_timeout,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(JOB_TYPE, job_type),
                SearchAttributePair(JOB_OWNER, owner),
                SearchAttributePair(JOB_STATUS, JobStatus.pending.value),
            ]
        ),
    )
