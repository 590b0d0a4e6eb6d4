"""What an analysis run and a classification experiment share: a job with a row of its own (`AnalysisRun`,
`ClassificationExperiment`) whose events it numbers, and batches of messages sent to the LLM under one budget.

Only the steps both take the same way live here; how each walks its batches differs for a reason (a run keeps going
past a failed batch and pages its window, an experiment fails with its first failed batch) and stays in its
workflow. Nothing here may change a command either workflow issues: their recorded histories replay against it.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from workflows.base import HEARTBEAT_TIMEOUT, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from db.models.tracker import JobRecordStatus

A = TypeVar("A")
R = TypeVar("R")
Result = TypeVar("Result", bound=JobResult)

# A batch's LLM faults that pass (429, 5xx, a dropped connection, a timeout) are retried for as long as BATCH_BUDGET
# lasts, however many attempts that takes: 6 attempts (about a minute) lost batches to bad luck. An LLM away for
# longer fails the batch, its error naming the faults that spent the budget; a refused request (400, a bad key, a
# refusal) fails it at once.
BATCH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
BATCH_BUDGET = timedelta(minutes=30)


class TrackerBatchJob(JobWorkflow):
    def __init__(self) -> None:
        super().__init__()
        # The number of this job's next event: kept here so a retried step publishes under the same numbers.
        self._seq = 1

    def job_ref(self, owner: str) -> dict[str, Any]:
        """The fields of a step's `JobRef`: whose events the step publishes, numbered from the job's next one."""
        return {"job_id": workflow.info().workflow_id, "owner": owner, "seq": self._seq}

    async def open_row(self, message: str, step: Awaitable[R]) -> R | str:
        """Begin the job and open its row with `step` (status running, the `started` event): what the step
        answers (the plan), or why there is none (the row or its agent config is missing), to close the job with."""
        # Begin first: its JobStatus upsert stands before the start step in every history. The replay test does not
        # catch that order when the step answers (a local step's marker is matched leniently), so keep it by hand.
        self.begin(total=0, message=message)
        try:
            return await self.unstoppable(step)
        except Exception as exc:
            return root_cause(exc)

    async def close_row(
        self,
        result: Result,
        status: JobRecordStatus,
        error: str | None,
        step: Awaitable[R],
        summary: Callable[[R], str],
        row: str,
    ) -> Result:
        """Close the row with `step` (its status, its end, the `completed` or `failed` event), then the job:
        `summary` takes the step's final counts into `result` and says them in a line.

        A row that cannot be closed (deleted meanwhile) leaves the job's own record as all there is: failed."""
        try:
            final = await self.unstoppable(step)
        except Exception as exc:
            result.status = self.fail(f"{error or status.value}; the {row} could not be closed: {root_cause(exc)}")
            result.progress = self._progress
            return result
        self._seq += 1
        said = summary(final)
        if status == JobRecordStatus.failed:
            result.status = self.fail(f"{error}; {said}" if error else said)
        else:
            result.status = self.finish(said)
        result.progress = self._progress
        return result

    async def llm_batch(self, activity: Callable[[Any, A], Awaitable[R]], arg: A) -> R | None:
        """One batch's LLM call, stopped by a cancel (None); its failure, once the budget is spent, is raised."""
        task = workflow.start_activity_method(
            activity,
            arg,
            start_to_close_timeout=timedelta(minutes=10),
            schedule_to_close_timeout=BATCH_BUDGET,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=BATCH_RETRY,
            # Nothing a batch writes (a proposal, the tally) may land after the job says `cancelled`.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return await self.stoppable(task)
