"""A chat's knowledge extraction (`ExtractKnowledge`): batches of the chat's scored messages, one after another, to
the LLM, which files them under topics and atoms.

A chat's extraction is one workflow id (`tracker-extract-chat-<chat_id>`) that every trigger reaches by
signal-with-start, so extractions for a chat never overlap and a trigger that comes while one runs is not lost.
"""

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from runtime.queues import QueueKind
from workflows.base import DB_STEP, HEARTBEAT_TIMEOUT, JobProgress, JobResult, JobWorkflow, root_cause
from workflows.tracker import WEBHOOK_OWNER

with workflow.unsafe.imports_passed_through():
    from activities.tracker_extraction import ExtractInput, ExtractOutcome, KnowledgeActivities, ReleaseInput
    from runtime.errors import tallied
    from workflows.start import JobRequest

EXTRACTION_JOB = "knowledge_extraction"
# The signal a trigger sends a chat's extraction (signal-with-start).
MORE = "more"

# An extraction batch's LLM faults that pass (429, 5xx, a dropped connection, a timeout) are retried for as long as
# EXTRACT_BUDGET lasts, however many attempts that takes: a count of attempts gave batches up to bad luck. An LLM away
# for longer fails the batch (its claim is given back for a later extraction), its error naming the faults that spent
# the budget; a refused request (400, a bad key, a refusal) fails it at once.
LLM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
EXTRACT_BUDGET = timedelta(minutes=30)
# Batches one extraction run takes before it continues as new, keeping its history short.
BATCHES_PER_RUN = 20


def extraction_job_id(chat_id: int) -> str:
    return f"tracker-extract-chat-{chat_id}"


class ExtractKnowledgeInput(BaseModel):
    chat_id: int
    batch: int = Field(default=50, ge=1, le=500)
    minimum: int = Field(default=10, ge=1)
    # The messages of the last `window_hours` (a trigger's); None: those of the period below (a person's start).
    window_hours: float | None = Field(default=24.0, gt=0)
    since: datetime | None = None
    until: datetime | None = None
    # Carried over continue-as-new.
    carried: JobProgress | None = None
    batches_done: int = 0
    # The number the job's next event gets (knowledge.extraction_*), carried over continue-as-new.
    next_event: int = 1


class ExtractKnowledgeResult(JobResult):
    chat_id: int
    batches: int = 0
    messages: int = 0
    topics: int = 0
    atoms: int = 0


@workflow.defn(name="ExtractKnowledge")
class ExtractKnowledgeWorkflow(JobWorkflow):
    """A chat's extractions, one batch after another while enough messages wait; a trigger's signal that comes
    meanwhile makes it look again before it ends."""

    # Its task queue's kind (runtime/queues.py): waits on the LLM. The inbox starts it through start_job, so here.
    queue_kind = QueueKind.llm

    def __init__(self) -> None:
        super().__init__()
        self._more = True
        self._next_event = 1

    @workflow.signal(name=MORE)
    def more(self) -> None:
        self._more = True

    @workflow.run
    async def run(self, inp: ExtractKnowledgeInput) -> ExtractKnowledgeResult:
        if inp.carried is not None:
            self.continue_from(inp.carried, f"extracting knowledge in chat {inp.chat_id}")
        else:
            self.begin(total=0, message=f"extracting knowledge in chat {inp.chat_id}")
        details = self._progress.details
        batches = inp.batches_done
        self._next_event = inp.next_event
        run_batches = 0
        while self._more and not self.cancel_requested:
            self._more = False
            while not self.cancel_requested:
                if run_batches >= BATCHES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    workflow.continue_as_new(
                        inp.model_copy(
                            update={"carried": self._progress, "batches_done": batches, "next_event": self._next_event}
                        )
                    )
                claim = f"{workflow.info().run_id}:{run_batches}"
                run_batches += 1
                self.set_current(f"batch {batches + 1}")
                outcome = await self._batch(inp, claim)
                if outcome is None or outcome.claimed == 0:
                    if outcome is not None and outcome.no_config:
                        self.record_error(f"chat {inp.chat_id}", "no active knowledge_extractor config")
                    break
                batches += 1
                self._progress.total += outcome.claimed
                with_topic = outcome.messages_with_topic
                self.advance(succeeded=with_topic, skipped=outcome.claimed - with_topic)
                for key in ("topics", "atoms"):
                    details[key] = details.get(key, 0) + getattr(outcome, key)
                if outcome.faults:
                    # Which transient faults the LLM answered with on the way: a slow chat told from a dead LLM.
                    details["faults"] = tallied(details.get("faults"), outcome.faults)
                details["batches"] = batches
        p = self._progress
        result = ExtractKnowledgeResult(
            status=p.status,
            progress=p,
            chat_id=inp.chat_id,
            batches=batches,
            messages=p.total,
            topics=details.get("topics", 0),
            atoms=details.get("atoms", 0),
        )
        result.status = self.finish(f"{p.total} messages in {batches} batches: {result.atoms} atoms")
        result.progress = self._progress
        return result

    async def _batch(self, inp: ExtractKnowledgeInput, claim: str) -> ExtractOutcome | None:
        """One batch; None when it failed for good or a cancel stopped it (its claim is then given back).

        A batch's events are numbered `started` n, then `completed` or `failed` n + 1, whatever was retried."""
        seq = self._next_event
        info = workflow.info()
        # A chat's extraction id is reused by every later trigger, and each new chain numbers its events from 1
        # again: its events name the chain, so clients do not take them for repeats of the last chain's.
        job_id = f"{info.workflow_id}/{info.first_execution_run_id}"
        step = workflow.execute_activity_method(
            KnowledgeActivities.extract_batch,
            ExtractInput(
                chat_id=inp.chat_id,
                claim=claim,
                batch=inp.batch,
                minimum=inp.minimum,
                window_hours=inp.window_hours,
                since=inp.since,
                until=inp.until,
                job_id=job_id,
                event_seq=seq,
            ),
            start_to_close_timeout=timedelta(minutes=10),
            schedule_to_close_timeout=EXTRACT_BUDGET,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=LLM_RETRY,
            # The write must not land after the claim is given back.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        reason = "cancelled"
        try:
            outcome = await self.stoppable(step)
        except BaseException as exc:
            reason = root_cause(exc)
            self.record_error(claim, reason)
            outcome = None
        if outcome is not None and outcome.no_config:
            reason = "no active knowledge_extractor config"
        if outcome is None or outcome.no_config:
            # Nothing will write this claim now: its messages are offered to a later extraction.
            self._next_event = seq + 2
            await self.unstoppable(
                workflow.execute_local_activity_method(
                    KnowledgeActivities.release_claim,
                    ReleaseInput(claim=claim, chat_id=inp.chat_id, job_id=job_id, event_seq=seq, reason=reason),
                    **DB_STEP,
                )
            )
        elif outcome.claimed:
            self._next_event = seq + 2
        return outcome


def extraction_job(inp: ExtractKnowledgeInput, owner: str = WEBHOOK_OWNER) -> JobRequest:
    return JobRequest(ExtractKnowledgeWorkflow.run, inp, EXTRACTION_JOB, owner, extraction_job_id(inp.chat_id))
