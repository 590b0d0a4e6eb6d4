"""`BenchItemsWorkflow`: `total` no-op items in batches of `batch_size`, `max_parallel` activities at once.

A job like any other (workflows/base.py): begin/advance/finish, the progress query, the cancel signal,
`run_bounded` for the parallel batches. The heartbeat timeout is an input (default: the app's
HEARTBEAT_TIMEOUT) so the recovery bench can compare values without editing workflows/base.py; the retry
policy is the one news discovery uses (initial interval 0.5 s).
"""

import os
import time
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from workflows.base import HEARTBEAT_TIMEOUT, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from bench.items import BatchOutcome, ItemActivities, WriteBatch

JOB_TYPE = "bench_items"

BATCH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=0.5), maximum_interval=timedelta(seconds=30))


class BenchItemsInput(BaseModel):
    total: int = Field(ge=1)
    batch_size: int = Field(default=1000, ge=1)
    max_parallel: int = Field(default=2, ge=1)
    chunk_size: int = Field(default=1000, ge=1)
    first_id: int = 0
    item_delay_ms: float = 0.0
    heartbeat_timeout_seconds: float = HEARTBEAT_TIMEOUT.total_seconds()


class BenchItemsResult(JobResult):
    written: int = 0
    batches: int = 0
    resumed_batches: int = 0


@workflow.defn(name="BenchItems")
class BenchItemsWorkflow(JobWorkflow):
    @workflow.signal
    def stall(self, milliseconds: float, worker_pid: int) -> None:
        """Bench only: hold the workflow task that delivers this signal on the CPU for `milliseconds`.

        The recovery bench uses it to kill a worker (the one with `worker_pid`) while it runs a workflow task.
        Nothing is recorded and no command is issued, so it is replay-safe; on any other worker (the
        replacement, which sees the signal again because the killed task never completed) it does nothing.
        """
        with workflow.unsafe.sandbox_unrestricted():
            if os.getpid() != worker_pid:
                return
            deadline = time.perf_counter() + milliseconds / 1000
            while time.perf_counter() < deadline:
                pass

    @workflow.run
    async def run(self, inp: BenchItemsInput) -> BenchItemsResult:
        result = BenchItemsResult(status=self._progress.status, progress=self._progress)
        batches = [
            WriteBatch(
                batch=b,
                first_id=inp.first_id + start,
                count=min(inp.batch_size, inp.total - start),
                chunk_size=inp.chunk_size,
                item_delay_ms=inp.item_delay_ms,
            )
            for b, start in enumerate(range(0, inp.total, inp.batch_size))
        ]
        self.begin(total=inp.total, message=f"{inp.total} items in {len(batches)} batches")

        async def write(batch: WriteBatch) -> BatchOutcome:
            return await workflow.execute_activity_method(
                ItemActivities.write_items,
                batch,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=inp.heartbeat_timeout_seconds),
                retry_policy=BATCH_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )

        def done(batch: WriteBatch, outcome: BatchOutcome | BaseException) -> None:
            if isinstance(outcome, BatchOutcome):
                result.written += outcome.written
                result.batches += 1
                result.resumed_batches += outcome.resumed_from > 0
                self.advance(succeeded=outcome.written)
            elif not self.cancel_requested:
                self.record_error(f"batch {batch.batch}", root_cause(outcome))
                self.advance(failed=batch.count)

        await self.run_bounded(batches, write, done, inp.max_parallel)
        result.status = self.finish(f"{result.written} items written in {result.batches} batches")
        result.progress = self._progress
        return result
