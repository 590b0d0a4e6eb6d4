"""News discovery: every chosen source read in parallel (up to max_parallel), drafts inserted as found.

Replaces the daemon thread news discovery ran in before Longrun: a restart of any process no longer loses the run.
"""

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

from runtime.queues import QueueKind
from workflows.base import HEARTBEAT_TIMEOUT, JobError, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from activities.news import DiscoverSourceInput, NewsActivities, SourceOutcome, SourceRun
    from runtime.errors import Faults
    from workflows.start import JobRequest

JOB_TYPE = "news_discovery"

# A transient fault (429, 5xx, a dropped connection, a timeout; of the feed or of the LLM) is retried for as long as
# SOURCE_BUDGET lasts, however many attempts that takes: a count of attempts lost sources to bad luck (8 attempts at
# bench chaos's 20% faults gave one up, 15 drafts lost), while no outage the chaos makes outlasts half an hour. A
# feed that stays down that long is given up, its error naming the faults that spent the budget. A permanent error
# (404, a malformed feed, a refused request) is never retried.
SOURCE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=0.5), maximum_interval=timedelta(seconds=10))
SOURCE_BUDGET = timedelta(minutes=30)
# Runs since this patch record each source's outcome on the source (its last run), a step per source; recorded
# histories from before it have no such step.
LAST_RUN_PATCH = "news-source-last-run"
RECORD_STEP = {"start_to_close_timeout": timedelta(seconds=30), "retry_policy": RetryPolicy(maximum_attempts=0)}


class SourceRef(BaseModel):
    id: int
    name: str


class DiscoverNewsInput(BaseModel):
    sources: list[SourceRef]
    max_parallel: int = Field(default=3, ge=1)


class DiscoverNewsResult(JobResult):
    drafts_created: int = 0
    sources_processed: int = 0
    # Feed entries refused for a link that is not a web URL: a hostile or broken feed shows here.
    links_rejected: int = 0
    failed_sources: list[JobError] = Field(default_factory=list)


@workflow.defn(name="NewsDiscovery")
class NewsDiscoveryWorkflow(JobWorkflow):
    # Its task queue's kind (runtime/queues.py): a person waits for the drafts.
    queue_kind = QueueKind.interactive

    @workflow.run
    async def run(self, inp: DiscoverNewsInput) -> DiscoverNewsResult:
        result = DiscoverNewsResult(status=self._progress.status, progress=self._progress)
        running: list[str] = []
        record_runs = workflow.patched(LAST_RUN_PATCH)
        self.begin(total=len(inp.sources), message=f"discovering news in {len(inp.sources)} sources")

        async def record(run: SourceRun) -> None:
            if record_runs:
                await workflow.execute_local_activity_method(NewsActivities.record_source_run, run, **RECORD_STEP)

        async def discover(source: SourceRef) -> SourceOutcome:
            running.append(source.name)
            self.set_current(", ".join(running))
            run_id = workflow.info().workflow_id
            try:
                outcome = await read_source(source, run_id)
            except ActivityError as exc:
                if not self.cancel_requested:
                    await record(SourceRun(run_id=run_id, source_id=source.id, error=root_cause(exc)))
                raise
            entries, drafts = outcome.entries, outcome.drafts_created
            try:
                await record(SourceRun(run_id=run_id, source_id=source.id, entries=entries, drafts=drafts))
            except asyncio.CancelledError:
                pass  # a cancel while it was being recorded: the source's drafts still count in the result
            return outcome

        async def read_source(source: SourceRef, run_id: str) -> SourceOutcome:
            return await workflow.execute_activity_method(
                NewsActivities.discover_source,
                DiscoverSourceInput(run_id=run_id, source_id=source.id),
                start_to_close_timeout=timedelta(minutes=10),
                schedule_to_close_timeout=SOURCE_BUDGET,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=SOURCE_RETRY,
                # Wait for the activity to stop, so no draft lands after the job says `cancelled`.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )

        def done(source: SourceRef, outcome: SourceOutcome | BaseException) -> None:
            running.remove(source.name)
            if isinstance(outcome, SourceOutcome):
                result.drafts_created += outcome.drafts_created
                result.links_rejected += outcome.rejected_links
                result.sources_processed += 1
                if outcome.faults:
                    # Which transient faults the source met on its way: a slow source can be told from a dead one.
                    faults = Faults(counts=outcome.faults)
                    self._progress.details.setdefault("faults", {})[source.name] = str(faults)
                self.advance(succeeded=1)
            elif not self.cancel_requested:
                error = JobError(item=source.name, error=root_cause(outcome))
                result.failed_sources.append(error)
                self.record_error(error.item, error.error)
                self.advance(failed=1)
            self.set_current(", ".join(running) or None)

        await self.run_bounded(inp.sources, discover, done, inp.max_parallel)
        rejected = f", {result.links_rejected} entries with a non-web link rejected" if result.links_rejected else ""
        result.status = self.finish(
            f"{result.drafts_created} drafts from {result.sources_processed} sources, "
            f"{len(result.failed_sources)} failed{rejected}"
        )
        result.progress = self._progress
        return result


def discovery_job(inp: DiscoverNewsInput, owner: str) -> JobRequest:
    return JobRequest(NewsDiscoveryWorkflow.run, inp, JOB_TYPE, owner)
