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

from workflows.base import HEARTBEAT_TIMEOUT, JobWorkflow

A = TypeVar("A")
R = TypeVar("R")

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
