"""WebBuddy: one workflow per query (claim, answer, finish) and the reconcile sweep the schedule runs.

Before Longrun a query went through a fire-and-forget push thread or waited for a 30-second polling loop; now it is
a workflow the moment it is created, and the old `claim_next` workers keep working beside it.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from runtime.queues import QueueKind
from workflows.base import HEARTBEAT_TIMEOUT, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from activities.webbuddy import (
        QUERY_WORKFLOW,
        Claim,
        ClaimInput,
        FinishInput,
        ProcessQueryInput,
        ReconcileInput,
        ReconcileResult,
        WebBuddyActivities,
        query_job_id,
    )
    from db.models.webbuddy import WORKFLOW_CLAIM, QueryStatus
    from workflows.start import JobRequest

JOB_TYPE = "webbuddy_query"
CANCELLED_BY_USER = "cancelled by user"
STAGES = ("claiming", "answering", "finishing")

# Claim and finish are retried until the database answers: giving up would end the run with the
# query still held by it.
DB_STEP = {
    "start_to_close_timeout": timedelta(seconds=15),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
# The LLM's transient faults (429, 5xx, a dropped connection, a timeout) are retried for as long as ANSWER_BUDGET
# lasts, however many attempts that takes: 5 attempts failed a query at bench chaos's 20% faults. A provider away for
# longer fails the query, its error naming the faults that spent the budget; a refused request (400, bad key) fails
# it at once.
ANSWER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
ANSWER_BUDGET = timedelta(minutes=30)


class ProcessQueryResult(JobResult):
    # done | failed | cancelled | claimed_elsewhere
    outcome: str
    answer: str | None = None
    error: str | None = None


@workflow.defn(name=QUERY_WORKFLOW)
class ProcessQueryWorkflow(JobWorkflow):
    # Its task queue's kind (runtime/queues.py): someone waits for the answer.
    queue_kind = QueueKind.interactive

    @workflow.run
    async def run(self, inp: ProcessQueryInput) -> ProcessQueryResult:
        # The run id, not the workflow id: a later run for a requeued query must not take
        # an earlier run's claim for its own.
        claimer = f"{WORKFLOW_CLAIM}{workflow.info().run_id}"
        ask = ClaimInput(query_id=inp.query_id, claimer=claimer)
        self.begin(total=len(STAGES), message=f"query {inp.query_id}")
        self._stage("claiming")

        if self.cancel_requested:
            return await self._close(ask, "cancelled", error=CANCELLED_BY_USER)
        claim: Claim = await self.unstoppable(
            workflow.execute_local_activity_method(WebBuddyActivities.claim, ask, **DB_STEP)
        )
        if not claim.claimed:
            self.advance(skipped=len(STAGES))
            self._progress.details["claimed_by"] = claim.holder
            self.finish(f"query {inp.query_id} was claimed elsewhere ({claim.holder})")
            return ProcessQueryResult(
                status=self._progress.status, progress=self._progress, outcome="claimed_elsewhere"
            )
        self._logged()
        self.advance(succeeded=1)
        if self.cancel_requested:
            return await self._close(ask, "cancelled", error=CANCELLED_BY_USER)

        self._stage("answering")
        outcome: dict[str, str | BaseException] = {}

        async def answer(_: int) -> str:
            return await workflow.execute_activity_method(
                WebBuddyActivities.answer,
                ask,
                start_to_close_timeout=timedelta(minutes=5),
                schedule_to_close_timeout=ANSWER_BUDGET,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=ANSWER_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )

        await self.run_bounded([inp.query_id], answer, lambda _, result: outcome.update(result=result), 1)
        result = outcome.get("result")
        if self.cancel_requested and not isinstance(result, str):
            return await self._close(ask, "cancelled", error=CANCELLED_BY_USER)
        if isinstance(result, BaseException):
            return await self._close(ask, "failed", error=root_cause(result))
        self._logged()
        self.advance(succeeded=1)
        return await self._close(ask, "done", answer=result)

    async def _close(self, ask: ClaimInput, outcome: str, answer: str | None = None, error: str | None = None):
        self._stage("finishing")
        status = QueryStatus.done if outcome == "done" else QueryStatus.failed
        finish = FinishInput(
            query_id=ask.query_id,
            claimer=ask.claimer,
            status=status,
            answer=answer,
            error=error,
            log="answered" if answer is not None else f"failed: {error}",
        )
        if await self.unstoppable(workflow.execute_local_activity_method(WebBuddyActivities.finish, finish, **DB_STEP)):
            self._logged()
        if outcome == "done":
            self.advance(succeeded=1)
            self.finish(f"query {ask.query_id} answered")
        elif outcome == "cancelled":
            self.finish(f"query {ask.query_id} marked failed")
        else:
            self.record_error(f"query {ask.query_id}", error or "")
            self.advance(failed=len(STAGES) - self._progress.processed)
            self.fail(f"query {ask.query_id} failed: {error}")
        self._progress.details["stage"] = outcome
        return ProcessQueryResult(
            status=self._progress.status, progress=self._progress, outcome=outcome, answer=answer, error=error
        )

    def _stage(self, stage: str) -> None:
        self._progress.details["stage"] = stage
        self.set_current(stage)

    def _logged(self) -> None:
        self._progress.details["logs_written"] = self._progress.details.get("logs_written", 0) + 1


def query_job(query_id: int, owner: str) -> JobRequest:
    """One workflow id per query, so starting its job twice finds the running one."""
    return JobRequest(
        ProcessQueryWorkflow.run, ProcessQueryInput(query_id=query_id), JOB_TYPE, owner, query_job_id(query_id)
    )


@workflow.defn(name="ReconcileQueries")
class ReconcileQueriesWorkflow:
    """What the `webbuddy-reconcile` schedule runs: requeue abandoned external claims, close the claims of
    runs that ended without closing their query (terminated, failed), start missing workflows."""

    # Its task queue's kind (runtime/queues.py): the queries' safety net.
    queue_kind = QueueKind.interactive

    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileResult:
        return await workflow.execute_activity_method(
            WebBuddyActivities.reconcile,
            inp,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
