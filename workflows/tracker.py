"""Task tracker (seed 004): one knowledge extraction per chat, the schedule's inbox sweep, and the per-update
workflow the webhook chain began with.

A chat's extraction is one workflow id (`tracker-extract-chat-<chat_id>`) that every trigger reaches by
signal-with-start, so extractions for a chat never overlap and a trigger that comes while one runs is not lost.
Updates are taken by the inbox drainer (workflows/tracker_inbox.py); `TrackerUpdate` is no longer started and stays
registered so runs started before the drainer can finish.
"""

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from workflows.base import DB_STEP, HEARTBEAT_TIMEOUT, JobProgress, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from activities.errors import tallied
    from activities.tracker import (
        AvatarInput,
        SaveUpdateInput,
        ScoreInput,
        TrackerActivities,
        TriggerInput,
    )
    from activities.tracker_avatars import AvatarOutcome
    from activities.tracker_extraction import ExtractInput, ExtractOutcome, KnowledgeActivities, ReleaseInput
    from activities.tracker_inbox import InboxActivities, ReconcileInboxInput, ReconcileInboxResult
    from db.tracker_messages import SavedMessage
    from workflows.start import JobRequest

UPDATE_JOB = "tracker_update"
EXTRACTION_JOB = "knowledge_extraction"
# Whose jobs webhook updates are: Telegram's, not a person's.
WEBHOOK_OWNER = "telegram"
# The signal a trigger sends a chat's extraction (signal-with-start).
MORE = "more"

# The avatar is a nicety: a Bot API that stays away for a few minutes leaves the profile without one (it is
# tried again with the author's next message), never the message unsaved or unscored.
AVATAR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60), maximum_attempts=6
)
# An extraction batch's LLM faults that pass (429, 5xx, a dropped connection, a timeout) are retried for as long as
# EXTRACT_BUDGET lasts, however many attempts that takes: a count of attempts gave batches up to bad luck. An LLM away
# for longer fails the batch (its claim is given back for a later extraction), its error naming the faults that spent
# the budget; a refused request (400, a bad key, a refusal) fails it at once.
LLM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
EXTRACT_BUDGET = timedelta(minutes=30)
# Batches one extraction run takes before it continues as new, keeping its history short.
BATCHES_PER_RUN = 20


def update_job_id(update_id: int) -> str:
    return f"tracker-update-{update_id}"


def extraction_job_id(chat_id: int) -> str:
    return f"tracker-extract-chat-{chat_id}"


class TrackerUpdateInput(BaseModel):
    update_id: int


class TrackerUpdateResult(JobResult):
    message_id: int | None = None
    chat_id: int | None = None
    # The message has its score (written by this job, or found written by an earlier run of it).
    scored: bool = False
    importance_score: float | None = None
    noise_class: str | None = None
    extraction_triggered: bool = False
    avatar: str | None = None


@workflow.defn(name="TrackerUpdate")
class TrackerUpdateWorkflow(JobWorkflow):
    @workflow.run
    async def run(self, inp: TrackerUpdateInput) -> TrackerUpdateResult:
        result = TrackerUpdateResult(status=self._progress.status, progress=self._progress)
        self.begin(total=3, message=f"update {inp.update_id}")
        self.set_current("saving")
        saved: SavedMessage = await workflow.execute_local_activity_method(
            TrackerActivities.save_update, SaveUpdateInput(update_id=inp.update_id), **DB_STEP
        )
        self.advance(succeeded=1)
        if saved.message_id is None or saved.chat_id is None:  # a kept message always has its chat
            self.advance(skipped=2)
            return self._close(result, f"update {inp.update_id} carries no message to keep")
        result.message_id, result.chat_id = saved.message_id, saved.chat_id
        avatar = None
        if saved.needs_avatar and saved.profile_id is not None:  # needs_avatar comes only with its profile
            avatar = asyncio.ensure_future(self._avatar(saved.profile_id))

        self.set_current("scoring")
        outcome = await workflow.execute_local_activity_method(
            TrackerActivities.score_messages,
            ScoreInput(message_ids=[saved.message_id], chat_ids=[saved.chat_id]),
            **DB_STEP,
        )
        self.advance(succeeded=1)
        if outcome.scored:
            scored = outcome.scored[0]
            result.scored = True
            result.importance_score, result.noise_class = scored.importance_score, scored.noise_class
        for chat_id in outcome.ready_chats:
            await workflow.execute_local_activity_method(
                TrackerActivities.trigger_extraction, TriggerInput(chat_id=chat_id), **DB_STEP
            )
            result.extraction_triggered = True

        if avatar is None:
            self.advance(skipped=1)
        else:
            self.set_current("avatar")
            result.avatar = await avatar
        return self._close(result, f"message {saved.message_id} saved" + (", scored" if result.scored else ""))

    async def _avatar(self, profile_id: int) -> str | None:
        try:
            fetched: AvatarOutcome = await workflow.execute_activity_method(
                TrackerActivities.fetch_avatar,
                AvatarInput(profile_id=profile_id),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=AVATAR_RETRY,
            )
        except Exception as exc:  # the activity's last failure: recorded, the message stays saved and scored
            self.record_error(f"avatar of profile {profile_id}", root_cause(exc))
            self.advance(failed=1)
            return None
        self.advance(succeeded=1)
        return fetched.status

    def _close(self, result: TrackerUpdateResult, message: str) -> TrackerUpdateResult:
        result.status = self.finish(message)
        result.progress = self._progress
        return result


class ExtractKnowledgeInput(BaseModel):
    chat_id: int
    batch: int = Field(default=50, ge=1, le=500)
    minimum: int = Field(default=10, ge=1)
    window_hours: float = Field(default=24.0, gt=0)
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


@workflow.defn(name="ReconcileTrackerInbox")
class ReconcileTrackerInboxWorkflow:
    """What the `tracker-inbox-reconcile` schedule runs: the inbox drainer runs, and chats whose extraction trigger
    was lost get it."""

    @workflow.run
    async def run(self, inp: ReconcileInboxInput) -> ReconcileInboxResult:
        return await workflow.execute_activity_method(
            InboxActivities.reconcile_inbox,
            inp,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


def extraction_job(inp: ExtractKnowledgeInput, owner: str = WEBHOOK_OWNER) -> JobRequest:
    return JobRequest(ExtractKnowledgeWorkflow.run, inp, EXTRACTION_JOB, owner, extraction_job_id(inp.chat_id))
