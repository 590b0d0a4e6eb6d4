"""Classification experiments (seed 004's execute_classification_experiment) as a durable job:
`tracker-experiment-<id>`.

The messages are chosen once (a local step, kept in history), classified in batches by the topic_classifier
agent (regular activities that heartbeat), and the tally carried from batch to batch in workflow state. A batch
that fails for good fails the experiment: an accuracy over part of the messages asked for would mislead.
"""

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

from workflows.base import DB_STEP, HEARTBEAT_TIMEOUT, JobResult, JobWorkflow, root_cause
from workflows.tracker_analysis import BATCH_BUDGET, BATCH_RETRY

with workflow.unsafe.imports_passed_through():
    from activities.tracker_experiments import (
        ClassifyInput,
        ClassifyOutcome,
        ExperimentActivities,
        ExperimentPlan,
        FinishExperimentInput,
        StartExperimentInput,
        Tally,
    )
    from db.models.tracker import JobRecordStatus
    from workflows.start import JobRequest

JOB_TYPE = "classification_experiment"
# Messages per LLM call: a prompt that lists them with every known topic stays small.
BATCH = 20


def experiment_job_id(experiment_id: int) -> str:
    return f"tracker-experiment-{experiment_id}"


class ExperimentInput(BaseModel):
    experiment_id: int
    owner: str


class ExperimentResult(JobResult):
    experiment_id: int
    message_count: int = 0
    classified: int = 0
    correct: int = 0
    accuracy: float | None = None
    confusion_matrix: dict[str, dict[str, int]] = {}


@workflow.defn(name="ClassificationExperiment")
class ClassificationExperimentWorkflow(JobWorkflow):
    def __init__(self) -> None:
        super().__init__()
        self._seq = 1

    @workflow.run
    async def run(self, inp: ExperimentInput) -> ExperimentResult:
        result = ExperimentResult(
            status=self._progress.status, progress=self._progress, experiment_id=inp.experiment_id
        )
        self.begin(total=0, message=f"experiment {inp.experiment_id}: choosing messages")
        try:
            plan: ExperimentPlan = await self.unstoppable(
                workflow.execute_local_activity_method(
                    ExperimentActivities.start_experiment,
                    StartExperimentInput(**self._job(inp), experiment_id=inp.experiment_id),
                    **DB_STEP,
                )
            )
        except Exception as exc:  # the experiment or its agent config is missing
            return await self._close(inp, result, JobRecordStatus.failed, root_cause(exc))
        self._seq = plan.next_seq
        ids = plan.message_ids
        result.message_count = len(ids)
        self._progress.total = len(ids)
        if not ids:
            return await self._close(inp, result, JobRecordStatus.failed, "no messages with a known topic")
        tally, last_progress = Tally(), None
        for start in range(0, len(ids), BATCH):
            if self.cancel_requested:
                break
            batch = ids[start : start + BATCH]
            self.set_current(f"messages {start + 1}-{start + len(batch)} of {len(ids)}")
            try:
                outcome = await self._batch(inp, plan, batch, tally, last_progress)
            except (Exception, asyncio.CancelledError) as exc:  # failed for good (a cancel answers None)
                self.record_error(f"messages {start + 1}-{start + len(batch)}", root_cause(exc))
                return await self._close(inp, result, JobRecordStatus.failed, root_cause(exc))
            if outcome is None:  # a cancel stopped it
                break
            self._seq, last_progress = outcome.next_seq, outcome.last_progress
            # A message classified wrong is a result, not a failed item: the item failed only if its batch did.
            self.advance(succeeded=outcome.tally.classified - tally.classified)
            self._progress.details["correct"] = outcome.tally.correct
            tally = outcome.tally
        status = JobRecordStatus.cancelled if self.cancel_requested else JobRecordStatus.completed
        return await self._close(inp, result, status, None)

    async def _batch(
        self, inp: ExperimentInput, plan: ExperimentPlan, batch: list[int], tally: Tally, last_progress: int | None
    ) -> ClassifyOutcome | None:
        task = workflow.start_activity_method(
            ExperimentActivities.classify_batch,
            ClassifyInput(
                **self._job(inp),
                experiment_id=inp.experiment_id,
                agent_config_id=plan.agent_config_id,
                message_ids=batch,
                total=len(plan.message_ids),
                before=tally,
                last_progress=last_progress,
            ),
            start_to_close_timeout=timedelta(minutes=10),
            schedule_to_close_timeout=BATCH_BUDGET,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=BATCH_RETRY,
            # The tally must not move after the experiment says `cancelled`.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return await self.stoppable(task)

    async def _close(
        self, inp: ExperimentInput, result: ExperimentResult, status: JobRecordStatus, error: str | None
    ) -> ExperimentResult:
        try:
            final = await self.unstoppable(
                workflow.execute_local_activity_method(
                    ExperimentActivities.finish_experiment,
                    FinishExperimentInput(
                        **self._job(inp), experiment_id=inp.experiment_id, status=status, error=error
                    ),
                    **DB_STEP,
                )
            )
        except Exception as exc:  # the experiment's row is gone: the job's own record is all there is
            result.status = self.fail(f"{error or status.value}; the experiment could not be closed: {root_cause(exc)}")
            result.progress = self._progress
            return result
        self._seq += 1
        result.classified, result.correct = final.classified, final.correct
        result.accuracy, result.confusion_matrix = final.accuracy, final.confusion_matrix
        accuracy = f"accuracy {final.accuracy:.3f}" if final.accuracy is not None else "no accuracy"
        summary = f"{final.correct} of {final.classified} classified right, {accuracy}"
        if status == JobRecordStatus.failed:
            result.status = self.fail(f"{error}; {summary}" if error else summary)
        else:
            result.status = self.finish(summary)
        result.progress = self._progress
        return result

    def _job(self, inp: ExperimentInput) -> dict:
        return {"job_id": workflow.info().workflow_id, "owner": inp.owner, "seq": self._seq}


def experiment_job(experiment_id: int, owner: str) -> JobRequest:
    return JobRequest(
        ClassificationExperimentWorkflow.run,
        ExperimentInput(experiment_id=experiment_id, owner=owner),
        JOB_TYPE,
        owner,
        experiment_job_id(experiment_id),
    )
