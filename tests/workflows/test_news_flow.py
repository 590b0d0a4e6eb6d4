"""The job protocol's bounded runner, through news discovery: parallel limit, failures, Retry-After, cancel."""

from datetime import timedelta

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError

from activities.news import DiscoverSourceInput, SourceOutcome, SourceRun
from devstack.clients import eventually
from tests.workflows.stubs import Gate, heartbeat_until_cancelled
from workflows.base import JobStatus
from workflows.news import DiscoverNewsInput, NewsDiscoveryWorkflow, SourceRef, discovery_job
from workflows.start import start_job


class Sources:
    """`news.discover_source` by source id: 1xx succeed after the gate, 2xx fail for good, 3xx are rate
    limited once for ten minutes, 4xx run until cancelled."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.gate.release()
        self.running = 0
        self.most_running = 0
        self.attempts: dict[int, int] = {}
        self.cancelled: list[int] = []
        self.recorded: list[SourceRun] = []

    @activity.defn(name="news.discover_source")
    async def discover_source(self, inp: DiscoverSourceInput) -> SourceOutcome:
        sid = inp.source_id
        self.attempts[sid] = self.attempts.get(sid, 0) + 1
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.gate.enter(sid)
            if 200 <= sid < 300:
                raise ApplicationError(f"feed of {sid} answered HTTP 404", non_retryable=True)
            if 300 <= sid < 400 and self.attempts[sid] == 1:
                raise ApplicationError("HTTP 429", next_retry_delay=timedelta(minutes=10))
            if 400 <= sid:
                await heartbeat_until_cancelled(lambda: self.cancelled.append(sid))
            return SourceOutcome(source_id=sid, entries=3, drafts_created=2, skipped=1)
        finally:
            self.running -= 1

    @activity.defn(name="news.record_source_run")
    async def record_source_run(self, run: SourceRun) -> None:
        self.recorded.append(run)


def sources(*ids: int, max_parallel: int = 3) -> DiscoverNewsInput:
    return DiscoverNewsInput(sources=[SourceRef(id=i, name=f"source {i}") for i in ids], max_parallel=max_parallel)


async def test_at_most_max_parallel_run_and_every_source_completes(env, run_worker):
    stub = Sources()
    stub.gate = Gate()
    async with run_worker([NewsDiscoveryWorkflow], [stub.discover_source, stub.record_source_run]) as settings:
        handle = await start_job(env.client, settings, discovery_job(sources(*range(100, 107)), "tester"))
        await stub.gate.reached(3, "three sources running")
        progress = await handle.query(NewsDiscoveryWorkflow.progress)
        # Held at the gate, none can finish, so a fourth could only start by breaking the limit.
        assert sum(stub.gate.entered.values()) == 3 and len(progress.current.split(", ")) == 3
        stub.gate.release()
        result = await handle.result()
    assert stub.most_running == 3
    # Each source's last run is kept on it, once, with its counts.
    assert sorted((r.source_id, r.entries, r.drafts, r.error) for r in stub.recorded) == [
        (sid, 3, 2, None) for sid in range(100, 107)
    ]
    assert (result.status, result.sources_processed, result.drafts_created) == (JobStatus.completed, 7, 14)
    assert (result.progress.processed, result.progress.succeeded, result.progress.percent) == (7, 7, 100.0)
    assert result.progress.current is None and result.failed_sources == []


async def test_a_failing_source_is_recorded_and_the_rest_go_on(env, run_worker):
    stub = Sources()
    async with run_worker([NewsDiscoveryWorkflow], [stub.discover_source, stub.record_source_run]) as settings:
        handle = await start_job(env.client, settings, discovery_job(sources(100, 200, 101), "tester"))
        result = await handle.result()
    assert result.status == JobStatus.completed
    assert [(e.item, e.error) for e in result.failed_sources] == [("source 200", "feed of 200 answered HTTP 404")]
    assert (result.progress.succeeded, result.progress.failed, result.sources_processed) == (2, 1, 2)
    assert stub.attempts[200] == 1, "a final error is not retried"
    assert result.progress.errors[0].item == "source 200"


async def test_retry_after_is_waited_out_then_the_source_succeeds(env, run_worker):
    stub = Sources()
    async with run_worker([NewsDiscoveryWorkflow], [stub.discover_source, stub.record_source_run]) as settings:
        handle = await start_job(env.client, settings, discovery_job(sources(300), "tester"))
        result = await handle.result()
    assert result.status == JobStatus.completed and stub.attempts[300] == 2
    # The workflow's own clock: the retry came no sooner than the server asked (time skipped, not waited).
    waited = result.progress.updated_at - result.progress.started_at
    assert waited >= timedelta(minutes=10), waited


async def cancel_mid_run(env, run_worker, cancel) -> tuple[Sources, object, object]:
    stub = Sources()
    async with run_worker([NewsDiscoveryWorkflow], [stub.discover_source, stub.record_source_run]) as settings:
        job = discovery_job(sources(400, 401, 402, 403, 100, max_parallel=2), "tester")
        handle = await start_job(env.client, settings, job)
        await eventually(lambda: _running(stub, 2), "two sources running", within=20, interval=0.02)
        await cancel(handle)
        result = await handle.result()
        description = await handle.describe()
    return stub, result, description


async def _running(stub: Sources, count: int) -> bool:
    return stub.running == count


async def test_cancel_signal_starts_nothing_new_and_cancels_what_runs(env, run_worker):
    stub, result, description = await cancel_mid_run(env, run_worker, lambda h: h.signal("cancel", "enough"))
    assert result.status == JobStatus.cancelled and result.progress.message.startswith("enough")
    assert sorted(stub.cancelled) == [400, 401] and sorted(stub.attempts) == [400, 401]
    assert stub.running == 0, "the job waited for its activities to stop"
    assert description.status == WorkflowExecutionStatus.COMPLETED


async def test_temporal_cancel_ends_the_same_way(env, run_worker):
    stub, result, description = await cancel_mid_run(env, run_worker, lambda h: h.cancel())
    assert result.status == JobStatus.cancelled and "cancelled through Temporal" in result.progress.message
    assert sorted(stub.cancelled) == [400, 401] and sorted(stub.attempts) == [400, 401]
    assert stub.running == 0
    assert description.status == WorkflowExecutionStatus.COMPLETED
