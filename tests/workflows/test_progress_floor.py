"""The progress query never answers a count lower than it answered before, whatever the workflow's own counts do."""

import uuid

from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from devstack.clients import eventually
from workflows.base import JobWorkflow


@workflow.defn(name="RecountingJob")
class RecountingJob(JobWorkflow):
    """Counts from a step's absolute totals, as ingestion and migration do; its second attempt reports fewer."""

    def __init__(self) -> None:
        super().__init__()
        self._next = False

    @workflow.signal
    def step(self) -> None:
        self._next = True

    @workflow.run
    async def run(self, reports: list[int]) -> None:
        self.begin(total=10)
        for handled, saved in enumerate(reports, 1):
            self._progress.details["reports"] = handled
            self.advance(succeeded=saved - self._progress.succeeded)
            await workflow.wait_condition(lambda: self._next)
            self._next = False
        self.finish()


async def test_a_lower_report_does_not_lower_what_the_query_shows(env):
    queue = f"floor-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[RecountingJob], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await env.client.start_workflow(RecountingJob.run, [6, 4, 8], id=f"floor-{queue}", task_queue=queue)

        async def shown(processed: int):
            async def probe():
                progress = await handle.query(RecountingJob.progress)
                return progress if progress.processed == processed else None

            return probe

        first = await eventually(await shown(6), "six counted")
        await handle.signal(RecountingJob.step)

        # The retried step reports 4: the workflow's own count goes to 4, what it shows stays at 6.
        async def second_report():
            progress = await handle.query(RecountingJob.progress)
            return progress if progress.details.get("reports") == 2 else None

        after = await eventually(second_report, "the second report handled")
        assert (after.processed, after.succeeded, after.percent) == (6, 6, first.percent) == (6, 6, 60.0)
        await handle.signal(RecountingJob.step)
        await eventually(await shown(8), "eight counted: above the floor, the real count shows again")
        await handle.signal(RecountingJob.step)
        await handle.result()
