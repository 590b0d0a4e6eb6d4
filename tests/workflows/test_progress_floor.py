"""The progress query never answers a count lower than it answered before, whatever the workflow's own counts do."""

import uuid

from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.jobs import ProgressFloor
from devstack.clients import eventually
from workflows.base import JobWorkflow


@workflow.defn(name="ReportingJob")
class ReportingJob(JobWorkflow):
    """Counts from a step's absolute totals, as ingestion and migration do, and may find more work as it goes (as
    embedding finds rows saved meanwhile): each report is (total, saved), and a retried step may report fewer."""

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


def after_report(handle, n: int):
    """A probe for `eventually`: the progress shown once the job has handled its `n`th report."""

    async def probe():
        progress = await handle.query(ReportingJob.progress)
        return progress if progress.details.get("reports") == n else None

    return probe


def start(env, prefix: str, reports: list[tuple[int, int]]):
    queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
    worker = Worker(env.client, task_queue=queue, workflows=[ReportingJob], workflow_runner=UnsandboxedWorkflowRunner())
    return worker, lambda: env.client.start_workflow(ReportingJob.run, reports, id=queue, task_queue=queue)


async def test_a_total_that_grows_lowers_the_percent_shown_from_the_floored_counts(env):
    # All 4 done (100%), then 4 more found while a retried step reports 3 of the 8.
    worker, started = start(env, "grow", [(4, 4), (8, 3)])
    async with worker:
        handle = await started()
        first = await eventually(after_report(handle, 1), "all four done")
        assert (first.processed, first.total, first.percent) == (4, 4, 100.0)
        await handle.signal(ReportingJob.step)
        grown = await eventually(after_report(handle, 2), "the total grown to eight")
        # The count stays at its floor (4); the percent is 4 of the 8 now known, not the 100% shown before.
        assert (grown.processed, grown.total, grown.percent) == (4, 8, 50.0)
        await handle.signal(ReportingJob.step)
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
    worker, started = start(env, "floor", [(10, 6), (10, 4), (10, 8)])
    async with worker:
        handle = await started()
        first = await eventually(after_report(handle, 1), "six counted")
        assert first.processed == 6
        await handle.signal(ReportingJob.step)
        # The retried step reports 4: the workflow's own count goes to 4, what it shows stays at 6.
        after = await eventually(after_report(handle, 2), "the second report handled")
        assert (after.processed, after.succeeded, after.percent) == (6, 6, first.percent) == (6, 6, 60.0)
        await handle.signal(ReportingJob.step)
        last = await eventually(after_report(handle, 3), "the third report handled")
        assert last.processed == 8, "above the floor, the real count shows again"
        await handle.signal(ReportingJob.step)
        await handle.result()
