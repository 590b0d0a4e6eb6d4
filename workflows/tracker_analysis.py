"""Analysis runs as a durable job: `tracker-run-<run id>`.

Replaces the TaskIQ task that a worker's death left `running` for ever: status running and the window's
messages prefiltered into batches (a local step), each batch's proposals from the LLM (a regular activity that
heartbeats, so a cancel reaches it), and the run's end written with its event whatever happened.

Bounded however wide the window (behind the `analysis-paged` patch; runs begun before it replay as they were):
the plan carries the window's size only (a database count), each batch's ids come from local steps that read the
window after a cursor, each at most `analysis_rows_per_step` messages (a step that stops short of a batch is asked
again), and after `batches_per_run` batches (or when Temporal suggests it) the run continues as new carrying its
progress, its counts, the cursor and the ids kept short of a batch. The prefilter's count and the batches are known
once the window is read: the run's end writes them. Unpatched, the plan held every id in one payload and one
history held every batch.

A batch that fails for good is kept in the run's `error_log` and the run goes on: the other batches' proposals
are worth having. A run whose every batch failed is `failed` (it produced nothing, "completed" would hide
that); a run with no message left after the prefilter is `completed` with no proposals.
"""

import asyncio

from pydantic import BaseModel, Field
from temporalio import workflow

from runtime.queues import QueueKind
from workflows.base import DB_STEP, JobProgress, JobResult, root_cause
from workflows.tracker_batch_job import TrackerBatchJob

with workflow.unsafe.imports_passed_through():
    from activities.tracker_analysis import (
        AnalysisActivities,
        BatchCursor,
        BatchErrorInput,
        BatchOutcome,
        FinishRunInput,
        NextBatch,
        NextBatchInput,
        ProposeInput,
        RunPlan,
        RunTally,
        StartRunInput,
    )
    from db.models.tracker import JobRecordStatus
    from runtime.errors import tallied
    from workflows.start import JobRequest

JOB_TYPE = "analysis_run"

PAGED_PATCH = "analysis-paged"
BATCHES_PER_RUN = 100  # the default of `AnalysisRunInput.batches_per_run`: ~400 history events a run


def run_job_id(run_id: int) -> str:
    return f"tracker-run-{run_id}"


def most_batches(plan: RunPlan) -> int:
    """The batches a window can make at most: every message kept."""
    return -(-plan.messages_total // plan.batch_size)


class RunCarry(BaseModel):
    """What a run that continued as new hands on: where the window stands and what has been done."""

    plan: RunPlan
    cursor: BatchCursor
    batch_index: int  # the next batch's number
    seq: int
    batches_completed: int = 0
    batches_failed: int = 0
    proposals_total: int = 0
    progress: JobProgress
    # Ids the prefilter kept after the last batch, up to `cursor`: the start of the next batch.
    pending: list[int] = Field(default_factory=list)
    # How many the prefilter kept so far (plans that did not count them up front).
    kept: int = 0


class AnalysisRunInput(BaseModel):
    run_id: int
    owner: str
    batches_per_run: int = Field(default=BATCHES_PER_RUN, ge=1)
    carry: RunCarry | None = None


class AnalysisRunResult(JobResult):
    run_id: int
    messages_total: int = 0
    messages_after_filter: int = 0
    batches_total: int = 0
    batches_completed: int = 0
    batches_failed: int = 0
    proposals_total: int = 0


@workflow.defn(name="AnalysisRun")
class AnalysisRunWorkflow(TrackerBatchJob):
    # Its task queue's kind (runtime/queues.py): waits on the LLM.
    queue_kind = QueueKind.llm

    @workflow.run
    async def run(self, inp: AnalysisRunInput) -> AnalysisRunResult:
        if inp.carry is not None or workflow.patched(PAGED_PATCH):
            return await self._run_paged(inp)
        result = AnalysisRunResult(status=self._progress.status, progress=self._progress, run_id=inp.run_id)
        plan = await self.open_row(
            f"analysis run {inp.run_id}: selecting messages",
            workflow.execute_local_activity_method(
                AnalysisActivities.start_run, StartRunInput(**self.job_ref(inp.owner), run_id=inp.run_id), **DB_STEP
            ),
        )
        if isinstance(plan, str):  # the run or its agent config is missing: nothing to do but say so
            return await self._close(inp, result, JobRecordStatus.failed, plan)
        self._seq = plan.next_seq
        # None until the streaming filter has been through the window (set again below when it is)
        result.messages_total, result.messages_after_filter = plan.messages_total, plan.messages_after_filter or 0
        result.batches_total = len(plan.batches)
        self._progress.total = len(plan.batches)
        self._progress.details.update(
            messages_total=plan.messages_total, messages_after_filter=plan.messages_after_filter, proposals_total=0
        )
        for index, message_ids in enumerate(plan.batches):
            if self.cancel_requested:
                break
            self.set_current(f"batch {index + 1} of {len(plan.batches)}")
            outcome = await self._batch(inp, plan, index, message_ids, result.batches_completed)
            if outcome is None and self.cancel_requested:
                break
            self._count(result, outcome)
        return await self._close(inp, result, *self._ending(result, len(plan.batches)))

    async def _run_paged(self, inp: AnalysisRunInput) -> AnalysisRunResult:
        carry = inp.carry
        if carry is None:
            plan = await self.open_row(
                f"analysis run {inp.run_id}: selecting messages",
                workflow.execute_local_activity_method(
                    AnalysisActivities.start_run,
                    StartRunInput(**self.job_ref(inp.owner), run_id=inp.run_id, paged=True),
                    **DB_STEP,
                ),
            )
            if isinstance(plan, str):  # the run or its agent config is missing: nothing to do but say so
                result = AnalysisRunResult(status=self._progress.status, progress=self._progress, run_id=inp.run_id)
                return await self._close(inp, result, JobRecordStatus.failed, plan)
            # Not counted up front (plans since the prefilter left `start_run`): the most batches the window can make
            # until its end is read.
            self._progress.total = plan.batches_total if plan.batches_total is not None else most_batches(plan)
            self._progress.details.update(
                messages_total=plan.messages_total, messages_after_filter=plan.messages_after_filter, proposals_total=0
            )
            carry = RunCarry(plan=plan, cursor=BatchCursor(), batch_index=0, seq=plan.next_seq, progress=self._progress)
        else:
            self._progress = carry.progress
        self._seq = carry.seq
        plan = carry.plan
        result = AnalysisRunResult(
            status=self._progress.status,
            progress=self._progress,
            run_id=inp.run_id,
            messages_total=plan.messages_total,
            messages_after_filter=plan.messages_after_filter or 0,
            batches_total=plan.batches_total or 0,
            batches_completed=carry.batches_completed,
            batches_failed=carry.batches_failed,
            proposals_total=carry.proposals_total,
        )
        cursor, index, this_run = carry.cursor, carry.batch_index, 0
        pending, kept, done = list(carry.pending), carry.kept, False
        while not self.cancel_requested:
            if this_run >= inp.batches_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self.cancel_requested:
                    handed_on = carry.model_copy(
                        update={
                            "cursor": cursor,
                            "batch_index": index,
                            "seq": self._seq,
                            "batches_completed": result.batches_completed,
                            "batches_failed": result.batches_failed,
                            "proposals_total": result.proposals_total,
                            "progress": self._progress,
                            "pending": pending,
                            "kept": kept,
                        }
                    )
                    workflow.continue_as_new(inp.model_copy(update={"carry": handed_on}))
                break
            page: NextBatch = await self.unstoppable(
                workflow.execute_local_activity_method(
                    AnalysisActivities.next_batch,
                    NextBatchInput(run_id=inp.run_id, after=cursor, size=plan.batch_size - len(pending)),
                    **DB_STEP,
                )
            )
            pending += page.message_ids
            kept += len(page.message_ids)
            cursor, done = page.after, page.done
            if plan.messages_after_filter is None:
                self._progress.details["messages_after_filter"] = kept
            if len(pending) < plan.batch_size and not done:
                continue  # the step read its most rows short of a batch: the window goes on
            if not pending:
                break
            batch, pending = pending, []
            self.set_current(f"batch {index + 1} of {self._progress.total}")
            outcome = await self._batch(inp, plan, index, batch, result.batches_completed)
            index += 1
            this_run += 1
            if outcome is None and self.cancel_requested:
                break
            self._count(result, outcome)
            if done:
                break
        if plan.batches_total is None:
            # What reading the window found (so far, when cancelled): the run's counts, in its row and its result.
            result.messages_after_filter, result.batches_total = kept, index
            if done:
                self._progress.total = index
        found = {"messages_after_filter": kept, "batches_total": index} if plan.batches_total is None else {}
        return await self._close(inp, result, *self._ending(result, index), **found)

    def _count(self, result: AnalysisRunResult, outcome: BatchOutcome | None) -> None:
        """A batch that ended in the run's counts: its proposals, or failed (None)."""
        if outcome is None:
            result.batches_failed += 1
            self.advance(failed=1)
            return
        result.batches_completed = outcome.batches_completed
        result.proposals_total = outcome.proposals_total
        self._progress.details["proposals_total"] = outcome.proposals_total
        self.advance(succeeded=1)

    def _ending(self, result: AnalysisRunResult, batches: int) -> tuple[JobRecordStatus, str | None]:
        """The run's status after `batches` batches, and its error: failed only when batches were made and none
        completed (it produced nothing)."""
        if self.cancel_requested:
            return JobRecordStatus.cancelled, None
        if batches and result.batches_completed == 0:
            return JobRecordStatus.failed, f"all {batches} batches failed"
        return JobRecordStatus.completed, None

    async def _batch(
        self, inp: AnalysisRunInput, plan: RunPlan, index: int, message_ids: list[int], completed_before: int
    ) -> BatchOutcome | None:
        """One batch's proposals; None when it failed for good (logged in the run) or a cancel stopped it.

        A batch the LLM fails for good fails the batch, not the run: its error goes to the run's error_log."""
        propose = ProposeInput(
            **self.job_ref(inp.owner),
            run_id=inp.run_id,
            batch_index=index,
            batches_total=len(plan.batches) if plan.batches else plan.batches_total,
            message_ids=message_ids,
            use_rag=plan.use_rag,
            agent_config_id=plan.agent_config_id,
            completed_before=completed_before,
        )
        try:
            # None on cancel: the run's end counts what was written, a batch that landed meanwhile included.
            outcome: BatchOutcome | None = await self.llm_batch(AnalysisActivities.propose_batch, propose)
        except (Exception, asyncio.CancelledError) as exc:  # failed for good (a cancel answers None)
            error = root_cause(exc)
            logged = await self.unstoppable(
                workflow.execute_local_activity_method(
                    AnalysisActivities.log_batch_error,
                    BatchErrorInput(
                        run_id=inp.run_id, batch_index=index, error=error, completed_before=completed_before
                    ),
                    **DB_STEP,
                )
            )
            if not logged.written:
                self.record_error(f"batch {index}", error)
                return None
            # Its last attempt wrote the batch and published its event, then lost its answer.
            outcome = BatchOutcome(
                proposals=0,
                batches_completed=logged.batches_completed,
                proposals_total=logged.proposals_total,
                next_seq=self._seq + 1,
            )
        if outcome is not None:
            self._seq = outcome.next_seq
            if outcome.faults:
                # Which transient faults the LLM answered with on the way, over the run's batches.
                details = self._progress.details
                details["faults"] = tallied(details.get("faults"), outcome.faults)
        return outcome

    async def _close(
        self,
        inp: AnalysisRunInput,
        result: AnalysisRunResult,
        status: JobRecordStatus,
        error: str | None,
        messages_after_filter: int | None = None,
        batches_total: int | None = None,
    ) -> AnalysisRunResult:
        def summary(tally: RunTally) -> str:
            result.batches_completed, result.proposals_total = tally.batches_completed, tally.proposals_total
            return (
                f"{tally.proposals_total} proposals from {tally.batches_completed} of {result.batches_total} batches"
                + (f", {result.batches_failed} failed" if result.batches_failed else "")
            )

        finish = workflow.execute_local_activity_method(
            AnalysisActivities.finish_run,
            FinishRunInput(
                **self.job_ref(inp.owner),
                run_id=inp.run_id,
                status=status,
                error=error,
                completed_before=result.batches_completed,
                messages_after_filter=messages_after_filter,
                batches_total=batches_total,
            ),
            **DB_STEP,
        )
        return await self.close_row(result, status, error, finish, summary, row="run")


def analysis_job(run_id: int, owner: str, batches_per_run: int = BATCHES_PER_RUN) -> JobRequest:
    inp = AnalysisRunInput(run_id=run_id, owner=owner, batches_per_run=batches_per_run)
    return JobRequest(AnalysisRunWorkflow.run, inp, JOB_TYPE, owner, run_job_id(run_id))
