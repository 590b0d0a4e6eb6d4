"""What a job writes to its record (workflows/job_records.py), seen from the two steps' side: a start and a close
with the job's end, counts and result; a continue-as-new is no close; a failure and a cancellation are; a workflow
without `JobType` writes nothing; a cancel that arrives while the start is being written reaches the job.

The steps here stand in for the Postgres writes (db/job_records.py, exercised on the real stack by
tests/test_job_records.py): what is checked is which writes the workflow asks for, and with what."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from devstack.clients import eventually
    from worker import SANDBOX
    from workflows.base import JobResult, JobStatus, JobWorkflow
    from workflows.job_records import CLOSE, START, JobRecordInterceptor, RecordClose, RecordStart
    from workflows.start import job_attributes


class Plan(BaseModel):
    items: int = 3
    fail: bool = False
    runs: int = 1  # how many runs the job continues-as-new through
    wait: bool = False  # wait for the cancel signal


@workflow.defn(name="RecordedJob")
class RecordedJob(JobWorkflow):
    @workflow.run
    async def run(self, plan: Plan) -> JobResult:
        self.begin(plan.items)
        if plan.wait:
            await self.wait(lambda: self.cancel_requested)
        if plan.fail:
            raise ApplicationError("the outside refused", non_retryable=True)
        self.advance(succeeded=plan.items - 1, failed=1)
        if plan.runs > 1:
            workflow.continue_as_new(plan.model_copy(update={"runs": plan.runs - 1}))
        return JobResult(status=self.finish("done"), progress=self._progress)


@workflow.defn(name="Housekeeping")
class Housekeeping:
    @workflow.run
    async def run(self) -> str:
        return "swept"


class Writes:
    def __init__(self) -> None:
        self.starts: list[RecordStart] = []
        self.closes: list[RecordClose] = []
        self.start_arrived = asyncio.Event()
        self.start_may_end = asyncio.Event()
        self.start_may_end.set()

    def steps(self) -> list:
        @activity.defn(name=START)
        async def record_start(start: RecordStart) -> None:
            self.start_arrived.set()
            await self.start_may_end.wait()
            self.starts.append(start)

        @activity.defn(name=CLOSE)
        async def record_close(close: RecordClose) -> None:
            self.closes.append(close)

        return [record_start, record_close]


@asynccontextmanager
async def recording(client: Client) -> AsyncIterator[tuple[str, Writes]]:
    queue = f"records-{uuid.uuid4().hex[:8]}"
    writes = Writes()
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RecordedJob, Housekeeping],
        activities=writes.steps(),
        workflow_runner=SANDBOX,
        interceptors=[JobRecordInterceptor()],
    ):
        yield queue, writes


async def start(client: Client, queue: str, plan: Plan):
    return await client.start_workflow(
        RecordedJob.run,
        plan,
        id=f"recorded-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
        search_attributes=job_attributes("recorded_job", "ann"),
    )


async def test_a_job_writes_its_start_and_its_end_with_counts_and_result(env):
    async with recording(env.client) as (queue, writes):
        handle = await start(env.client, queue, Plan(items=3))
        await handle.result()
    [begun] = writes.starts
    assert (begun.run.job_id, begun.run.job_type, begun.run.owner) == (handle.id, "recorded_job", "ann")
    assert begun.input == {"items": 3, "fail": False, "runs": 1, "wait": False}
    [ended] = writes.closes
    assert (ended.status, ended.error, ended.run.first_run_id) == (JobStatus.completed, None, begun.run.first_run_id)
    assert (ended.progress["succeeded"], ended.progress["failed"], ended.progress["message"]) == (2, 1, "done")
    assert ended.result is not None and ended.result["status"] == "completed"


async def test_continue_as_new_is_not_a_close(env):
    async with recording(env.client) as (queue, writes):
        handle = await start(env.client, queue, Plan(items=3, runs=3))
        await handle.result()
    assert len(writes.starts) == 3 and len(writes.closes) == 1
    assert len({s.run.run_id for s in writes.starts}) == 3
    assert {s.run.first_run_id for s in writes.starts} == {writes.closes[0].run.first_run_id}


async def test_a_failure_is_written_as_the_jobs_end(env):
    async with recording(env.client) as (queue, writes):
        handle = await start(env.client, queue, Plan(fail=True))
        try:
            await handle.result()
        except WorkflowFailureError:
            pass
    [ended] = writes.closes
    assert (ended.status, ended.error) == (JobStatus.failed, "the outside refused")
    assert ended.result == {"status": "failed", "error": "the outside refused"}
    assert ended.progress["total"] == 3


async def test_a_workflow_that_is_no_job_writes_nothing(env):
    async with recording(env.client) as (queue, writes):
        result = await env.client.execute_workflow(Housekeeping.run, id=f"sweep-{uuid.uuid4().hex}", task_queue=queue)
    assert (result, writes.starts, writes.closes) == ("swept", [], [])


async def test_a_cancel_during_the_start_write_reaches_the_job(env):
    async with recording(env.client) as (queue, writes):
        writes.start_may_end.clear()
        handle = await start(env.client, queue, Plan(items=3, wait=True))
        await asyncio.wait_for(writes.start_arrived.wait(), 30)
        await handle.cancel()

        async def cancel_requested() -> bool:
            history = await handle.fetch_history()
            return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED for e in history.events)

        await eventually(cancel_requested, "the cancel")
        writes.start_may_end.set()
        result = await handle.result()
    # The job saw the cancel as its own and ended by its protocol; its start and its end are both written.
    assert result.status == JobStatus.cancelled and "Temporal" in result.progress.message
    assert len(writes.starts) == 1 and [c.status for c in writes.closes] == [JobStatus.cancelled]
