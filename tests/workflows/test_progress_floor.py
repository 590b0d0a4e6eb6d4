"""The progress query never answers a count lower than it answered before, whatever the workflow's own counts do."""

import uuid

from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.jobs import ProgressFloor
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


@workflow.defn(name="GrowingJob")
class GrowingJob(JobWorkflow):
    """Finds more work as it goes (as embedding finds rows saved meanwhile): each report is (total, saved)."""

    def __init__(self) -> None:
        super().__init__()
        self._next = False

    @workflow.signal
    def step(self) -> None:
        self._next = True

    @workflow.run
    async def run(self, reports: list[tuple[int, int]]) -> None:
        self.begin(total=0)
        for handled, (total, saved) in enumerate(reports, 1):
            self._progress.details["reports"] = handled
            self._progress.total = total
            self.advance(succeeded=saved - self._progress.succeeded)
            await workflow.wait_condition(lambda: self._next)
            self._next = False
        self.finish()


async def test_a_total_that_grows_lowers_the_percent_shown_from_the_floored_counts(env):
    queue = f"grow-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[GrowingJob], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        # All 4 done (100%), then 4 more found while a retried step reports 3 of the 8.
        handle = await env.client.start_workflow(GrowingJob.run, [(4, 4), (8, 3)], id=f"grow-{queue}", task_queue=queue)

        async def report(n: int):
            async def probe():
                progress = await handle.query(GrowingJob.progress)
                return progress if progress.details.get("reports") == n else None

            return probe

        first = await eventually(await report(1), "all four done")
        assert (first.processed, first.total, first.percent) == (4, 4, 100.0)
        await handle.signal(GrowingJob.step)
        grown = await eventually(await report(2), "the total grown to eight")
        # The count stays at its floor (4); the percent is 4 of the 8 now known, not the 100% shown before.
        assert (grown.processed, grown.total, grown.percent) == (4, 8, 50.0)
        await handle.signal(GrowingJob.step)
        await handle.result()


def test_the_api_floor_draws_the_percent_from_the_floored_count_and_the_current_total():
    floor, run = ProgressFloor(), ("job", "run")
    floor.raise_to_last(run, {"status": "running", "total": 4, "processed": 4, "succeeded": 4, "percent": 100.0})
    # A worker answering a lower count (3 of a total grown to 8): the count is floored, the percent follows it.
    shown = floor.raise_to_last(run, {"status": "running", "total": 8, "processed": 3, "succeeded": 3, "percent": 37.5})
    assert (shown["processed"], shown["succeeded"], shown["total"], shown["percent"]) == (4, 4, 8, 50.0)
    # A lower count against the same total still shows the floored percent.
    again = floor.raise_to_last(run, {"status": "running", "total": 8, "processed": 2, "succeeded": 2, "percent": 25.0})
    assert (again["processed"], again["percent"]) == (4, 50.0)


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
