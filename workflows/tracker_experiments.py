"""Classification experiments as a durable job:
`tracker-experiment-<id>`.

The messages are chosen once (a local step, kept in history), classified in batches by the topic_classifier
agent (regular activities that heartbeat), and the tally carried from batch to batch in workflow state. A batch
that fails for good fails the experiment: an accuracy over part of the messages asked for would mislead.
"""

import asyncio

from pydantic import BaseModel
from temporalio import workflow

from runtime.queues import QueueKind
from workflows.base import DB_STEP, JobResult, root_cause
from workflows.tracker_batch_job import TrackerBatchJob

with workflow.unsafe.imports_passed_through():
    from activities.tracker_experiments import (
        ClassifyInput,
        ExperimentActivities,
        ExperimentTally,
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
class ClassificationExperimentWorkflow(TrackerBatchJob):
    # Its task queue's kind (runtime/queues.py): waits on the LLM.
    queue_kind = QueueKind.llm

    @workflow.run
    async def run(self, inp: ExperimentInput) -> ExperimentResult:
        result = ExperimentResult(
            status=self._progress.status, progress=self._progress, experiment_id=inp.experiment_id
        )
        plan = await self.open_row(
            f"experiment {inp.experiment_id}: choosing messages",
            workflow.execute_local_activity_method(
                ExperimentActivities.start_experiment,
                StartExperimentInput(**self.job_ref(inp.owner), experiment_id=inp.experiment_id),
                **DB_STEP,
            ),
        )
        if isinstance(plan, str):  # the experiment or its agent config is missing
            return await self._close(inp, result, JobRecordStatus.failed, plan)
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
                outcome = await self.llm_batch(
                    ExperimentActivities.classify_batch,
                    ClassifyInput(
                        **self.job_ref(inp.owner),
                        experiment_id=inp.experiment_id,
                        agent_config_id=plan.agent_config_id,
                        message_ids=batch,
                        total=len(ids),
                        before=tally,
                        last_progress=last_progress,
                    ),
                )
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

    async def _close(
        self, inp: ExperimentInput, result: ExperimentResult, status: JobRecordStatus, error: str | None
    ) -> ExperimentResult:
        def summary(final: ExperimentTally) -> str:
            result.classified, result.correct = final.classified, final.correct
            result.accuracy, result.confusion_matrix = final.accuracy, final.confusion_matrix
            accuracy = f"accuracy {final.accuracy:.3f}" if final.accuracy is not None else "no accuracy"
            return f"{final.correct} of {final.classified} classified right, {accuracy}"

        finish = workflow.execute_local_activity_method(
            ExperimentActivities.finish_experiment,
            FinishExperimentInput(
                **self.job_ref(inp.owner), experiment_id=inp.experiment_id, status=status, error=error
            ),
            **DB_STEP,
        )
        return await self.close_row(result, status, error, finish, summary, row="experiment")


def experiment_job(experiment_id: int, owner: str) -> JobRequest:
    return JobRequest(
        ClassificationExperimentWorkflow.run,
        ExperimentInput(experiment_id=experiment_id, owner=owner),
        JOB_TYPE,
        owner,
        experiment_job_id(experiment_id),
    )
