"""Whether a job is stuck retrying a step, read from Temporal's pending activities.

A step that keeps failing is retried by Temporal without anything reaching the workflow: its progress query goes on
saying `running`. The server knows better (each pending activity's attempt and last failure), so the API reads it
from `describe` and says so: which step, its attempt, since when, and the last error.
"""

from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.exceptions import ActivityError

from workflows.base import root_cause

# An error from outside can be long (a whole HTML page); the rest of it is in the worker's log.
ERROR_TEXT = 1000
# How far back from the end of the history to look for when a retrying step was first scheduled: a retrying
# activity adds nothing to history, so its scheduling is among the last events unless many steps ran in parallel.
SCHEDULED_LOOKBACK = 1000
SINCE_CACHE_SIZE = 10_000


class Retrying(BaseModel):
    """A step of the job that failed and is being tried again."""

    step: str
    attempt: int
    # When the step was first scheduled: it has not succeeded since.
    since: datetime | None
    last_error: str
    next_attempt_at: datetime | None = None

    def describe(self) -> str:
        when = f" since {self.since.isoformat(timespec='seconds')}" if self.since else ""
        return f"retrying {self.step} (attempt {self.attempt}{when}): {self.last_error}"


def is_retrying(activity: PendingActivityInfo) -> bool:
    failed_before = activity.HasField("last_failure")
    return activity.attempt > 1 or (
        activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and failed_before
    )


def as_datetime(stamp) -> datetime | None:
    return stamp.ToDatetime().replace(tzinfo=UTC) if stamp.seconds or stamp.nanos else None


class RetryReader:
    """Reads a run's retrying step; remembers when each step was first scheduled (it never changes)."""

    def __init__(self) -> None:
        self._since: dict[tuple[str, str, str], datetime | None] = {}

    async def retrying(self, client: Client, desc: WorkflowExecutionDescription) -> Retrying | None:
        pending = [a for a in desc.raw_description.pending_activities if is_retrying(a)]
        if not pending:
            return None
        activity = max(pending, key=lambda a: a.attempt)
        return Retrying(
            step=activity.activity_type.name,
            attempt=activity.attempt,
            since=await self._first_scheduled(client, desc, activity.activity_id),
            last_error=await self._error(client, activity),
            next_attempt_at=as_datetime(activity.next_attempt_schedule_time),
        )

    @staticmethod
    async def _error(client: Client, activity: PendingActivityInfo) -> str:
        if not activity.HasField("last_failure"):
            return "unknown error"
        failure = type(activity.last_failure)()
        failure.CopyFrom(activity.last_failure)
        # The failure may be encrypted by the payload codec; decoding it gives the exception the step raised.
        error = await client.data_converter.decode_failure(failure)
        text = root_cause(error.cause) if isinstance(error, ActivityError) and error.cause else root_cause(error)
        return text[:ERROR_TEXT]

    async def _first_scheduled(
        self, client: Client, desc: WorkflowExecutionDescription, activity_id: str
    ) -> datetime | None:
        key = (desc.id, desc.run_id, activity_id)
        if key in self._since:
            return self._since[key]
        since = await self._scheduled_at(client, desc, activity_id)
        if len(self._since) >= SINCE_CACHE_SIZE:
            self._since.pop(next(iter(self._since)))
        self._since[key] = since
        return since

    @staticmethod
    async def _scheduled_at(client: Client, desc: WorkflowExecutionDescription, activity_id: str) -> datetime | None:
        request = GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=desc.id, run_id=desc.run_id),
            maximum_page_size=200,
        )
        seen = 0
        while seen < SCHEDULED_LOOKBACK:
            page = await client.workflow_service.get_workflow_execution_history_reverse(request)
            for event in page.history.events:
                scheduled = event.activity_task_scheduled_event_attributes
                if event.HasField("activity_task_scheduled_event_attributes") and scheduled.activity_id == activity_id:
                    return as_datetime(event.event_time)
            seen += len(page.history.events)
            if not page.next_page_token:
                break
            request.next_page_token = page.next_page_token
        return None
