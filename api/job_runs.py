"""What a start answers about the run it landed on: whether it started one, and what a joined run was started with.

Every job starts with `USE_EXISTING`, so a start whose id is taken by a running job gets that job back. The person
who asked must learn it (a 1C user asked for one period; another one may be syncing), and nothing about
the run may be taken from the request: it is read from the run.
"""

from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowHandle

# A summary, not the input: what tells a person what the running job is doing (its period, its scope), cut short; the
# same one a job's record keeps.
from db.job_records import summary


def started_new(handle: WorkflowHandle) -> bool:
    """Whether the start created a run, or found one running under the id (and was handed that one).

    Temporal says so in the start's answer (`started`); the SDK keeps that answer on the handle it returns."""
    response = getattr(handle, "_start_workflow_response", None)
    if response is None:  # the SDK no longer keeps it: fail loudly, a silent guess would hide joined jobs
        raise RuntimeError("the Temporal SDK's start answer is not on the handle: cannot tell a joined job")
    return bool(response.started)


async def started_with(client: Client, run: WorkflowHandle) -> tuple[Any, datetime | None]:
    """The input `run` was started with (decoded as plain JSON values), and when it started: its first history event."""
    async for event in run.fetch_history_events(page_size=1):
        attributes = event.workflow_execution_started_event_attributes
        values = await client.data_converter.decode_wrapper(attributes.input)
        return (values[0] if values else None), event.event_time.ToDatetime().replace(tzinfo=UTC)
    return None, None


async def input_of(client: Client, run: WorkflowHandle) -> tuple[dict[str, Any] | None, datetime | None]:
    """A summary of the input `run` was started with, and when it started."""
    value, since = await started_with(client, run)
    return summary(value), since
