"""The tracker's webhook chain as one long-running drainer, and the batch scorer its schedule runs.

`TrackerInbox` (one per deployment, `tracker-inbox`) replaces the save → score → trigger TaskIQ tasks fired per update
before Longrun: it takes the webhook's stored updates a batch at a time (saved, scored and announced in one
transaction), then triggers extraction for the chats that gathered enough and fetches new authors' avatars beside. A
workflow per update cost ~5 Temporal round trips per message and topped out near 30 updates/s on two cores; a batch
costs one activity whatever its size. With the inbox empty, a take waits on Postgres LISTEN, so a new update is taken
within milliseconds and the webhook never calls Temporal: updates that arrive while Temporal is away wait in the inbox.

`ScoreUnscoredMessages` scores every message without a score, in batches.
`ReconcileTrackerInbox` is what the inbox's reconcile schedule runs: the drainer runs, lost triggers are sent again.
"""

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from runtime.queues import QueueKind
from workflows.base import DB_STEP, JobProgress, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from activities.tracker_avatars import AvatarActivities, AvatarsInput
    from activities.tracker_inbox import (
        ChatsInput,
        InboxActivities,
        ReconcileInboxInput,
        ReconcileInboxResult,
        ScoreUnscoredInput,
        TakeInput,
    )
    from workflows.start import JobRequest

from workflows.tracker import WEBHOOK_OWNER

INBOX_JOB = "tracker_inbox"
SCORING_JOB = "message_scoring"

# A take is retried for as long as it takes: the drainer has nothing else to do, and the inbox keeps the updates.
TAKE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
# Avatars are a nicety: a Bot API away for minutes leaves them for the author's next message or the next sweep. A
# profile's fault fails no step (the step counts, logs and lists it); these attempts are for a step that dies (its
# worker lost), and a step that fails for good is a job error, never the drainer's end.
AVATAR_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=3)
AVATARS_PER_STEP = 50
# Profiles the drainer looks for avatars of when a run begins: what a lost batch answer left unfetched.
AVATAR_SWEEP = 200
# Takes one run makes before it continues as new (each adds ~6 history events).
TAKES_PER_RUN = 500
# A ready chat's extraction is told at most this often. While it runs it takes what gathers anyway, and each
# signal costs it a workflow task: told after every take, 20 busy chats cost Temporal 200 tasks a second.
TRIGGER_EVERY_SECONDS = 1.0


# Released with the throttle: runs recorded before it triggered after every take.
THROTTLED_TRIGGERS = "throttled-triggers"

# The drainer's id: one per deployment (`workflows.schedules.schedule_id` adds a task queue's name).
INBOX_ID = "tracker-inbox"


class TrackerInboxInput(BaseModel):
    batch: int = Field(default=200, ge=1, le=1000)
    wait_seconds: float = Field(default=60.0, ge=1)
    carried: JobProgress | None = None


class TrackerInboxResult(JobResult):
    pass


@workflow.defn(name="TrackerInbox")
class TrackerInboxWorkflow(JobWorkflow):
    # Its task queue's kind (runtime/queues.py): the webhook chain's drainer.
    queue_kind = QueueKind.interactive

    def __init__(self) -> None:
        super().__init__()
        self._avatar_queue: list[int] = []
        self._avatar_task: asyncio.Task | None = None
        # Workflow time each chat's extraction was last triggered, and the ready chats held back since.
        self._triggered: dict[int, float] = {}
        self._held: set[int] = set()

    @workflow.run
    async def run(self, inp: TrackerInboxInput) -> TrackerInboxResult:
        if inp.carried is not None:
            self.continue_from(inp.carried, "taking updates from the inbox")
        else:
            self.begin(total=0, message="taking updates from the inbox")
        details = self._progress.details
        self._queue_avatars(
            await workflow.execute_local_activity_method(
                AvatarActivities.profiles_awaiting_avatar, AVATAR_SWEEP, **DB_STEP
            )
        )
        takes = 0
        while not self.cancel_requested:
            if takes >= TAKES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await self._trigger(held_too=True)
                await self._drain_avatars()
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(inp.model_copy(update={"carried": self._progress}))
            took = await self._take(inp)
            if took is None:
                break
            takes += 1
            if took.updates == 0:
                await self._trigger()
                continue
            self._progress.total += took.updates
            self.advance(
                succeeded=took.messages, skipped=took.updates - took.messages - took.set_aside, failed=took.set_aside
            )
            if took.set_aside:
                self.record_error("inbox", f"{took.set_aside} updates could not be saved: see telegram_update.error")
            details["scored"] = details.get("scored", 0) + took.scored
            if took.edited:
                details["edited"] = details.get("edited", 0) + took.edited
            for name, count in took.classes.items():
                details[name] = details.get(name, 0) + count
            if workflow.patched(THROTTLED_TRIGGERS):
                await self._trigger(frozenset(took.ready_chats))
            elif took.ready_chats:
                await self._trigger_now(took.ready_chats)
            self._queue_avatars(took.avatar_profiles)
        await self._trigger(held_too=True)
        await self._drain_avatars()
        p = self._progress
        status = self.finish(f"{p.total} updates taken, {details.get('scored', 0)} messages scored")
        return TrackerInboxResult(status=status, progress=self._progress)

    async def _trigger(self, ready: frozenset[int] = frozenset(), held_too: bool = False) -> None:
        """Trigger the ready chats whose last trigger is old enough; hold back the others until it is (or, with
        `held_too`, trigger every one: the run is about to end)."""
        self._held |= ready
        now = workflow.time()
        due = sorted(c for c in self._held if held_too or now - self._triggered.get(c, -1e9) >= TRIGGER_EVERY_SECONDS)
        if not due:
            return
        await self._trigger_now(due)
        self._held.difference_update(due)
        self._triggered = {c: t for c, t in self._triggered.items() if now - t < TRIGGER_EVERY_SECONDS}
        self._triggered.update(dict.fromkeys(due, now))

    async def _trigger_now(self, chat_ids: list[int]) -> None:
        await workflow.execute_local_activity_method(
            InboxActivities.trigger_extractions, ChatsInput(chat_ids=chat_ids), **DB_STEP
        )
        details = self._progress.details
        details["extractions_triggered"] = details.get("extractions_triggered", 0) + len(chat_ids)

    def _wait_seconds(self, inp: TrackerInboxInput) -> float:
        """How long a take may wait for updates: no longer than until the first held-back chat is due."""
        if not self._held:
            return inp.wait_seconds
        now = workflow.time()
        due_in = min(
            self._triggered.get(c, now - TRIGGER_EVERY_SECONDS) + TRIGGER_EVERY_SECONDS - now for c in self._held
        )
        return min(inp.wait_seconds, max(due_in, 0.0))

    async def _take(self, inp: TrackerInboxInput):
        """One batch; None when a cancel stopped the drainer (a take it interrupts rolls back)."""
        return await self.stoppable(
            workflow.execute_activity_method(
                InboxActivities.take_updates,
                TakeInput(batch=inp.batch, wait_seconds=self._wait_seconds(inp)),
                start_to_close_timeout=timedelta(seconds=inp.wait_seconds + 60),
                # A killed worker's take is noticed this soon; a waiting take beats every second.
                heartbeat_timeout=timedelta(seconds=15),
                retry_policy=TAKE_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        )

    def _queue_avatars(self, profile_ids: list[int]) -> None:
        queued = set(self._avatar_queue)
        self._avatar_queue += [p for p in profile_ids if p not in queued]
        if self._avatar_queue and (self._avatar_task is None or self._avatar_task.done()):
            self._avatar_task = asyncio.ensure_future(self._fetch_avatars())

    async def _fetch_avatars(self) -> None:
        """One avatar step at a time beside the takes: a slow Bot API never holds up saving and scoring."""
        while self._avatar_queue and not self.cancel_requested:
            batch, self._avatar_queue = self._avatar_queue[:AVATARS_PER_STEP], self._avatar_queue[AVATARS_PER_STEP:]
            try:
                fetched = await workflow.execute_activity_method(
                    AvatarActivities.fetch_avatars,
                    AvatarsInput(profile_ids=batch),
                    start_to_close_timeout=timedelta(minutes=5),
                    heartbeat_timeout=timedelta(seconds=60),
                    retry_policy=AVATAR_RETRY,
                )
            except Exception as exc:  # the profiles stay unchecked: the next sweep or message tries again
                self.record_error(f"avatars of {len(batch)} profiles", root_cause(exc))
                continue
            avatars = self._progress.details.setdefault("avatars", {})
            for status, count in fetched.counts.items():
                avatars[status] = avatars.get(status, 0) + count
            for error in fetched.errors:
                self.record_error("avatar", error)

    async def _drain_avatars(self) -> None:
        if self._avatar_task is not None:
            await self._avatar_task


class ScoreUnscoredResult(JobResult):
    scored: int = 0


@workflow.defn(name="ScoreUnscoredMessages")
class ScoreUnscoredMessagesWorkflow(JobWorkflow):
    """Batches of the oldest unscored messages until none is left; each batch scores, announces and triggers."""

    # Its task queue's kind (runtime/queues.py): the webhook chain's scoring.
    queue_kind = QueueKind.interactive

    @workflow.run
    async def run(self, inp: ScoreUnscoredInput) -> ScoreUnscoredResult:
        self.begin(total=0, message="scoring messages without a score")
        details = self._progress.details
        while not self.cancel_requested:
            if workflow.info().is_continue_as_new_suggested():
                # Left for the next scheduled run: what is scored stays scored.
                break
            batch = await workflow.execute_local_activity_method(InboxActivities.score_unscored, inp, **DB_STEP)
            if batch.scored == 0:
                break
            self._progress.total += batch.scored
            self.advance(succeeded=batch.scored)
            for name, count in batch.classes.items():
                details[name] = details.get(name, 0) + count
            if batch.ready_chats:
                await workflow.execute_local_activity_method(
                    InboxActivities.trigger_extractions, ChatsInput(chat_ids=batch.ready_chats), **DB_STEP
                )
        status = self.finish(f"{self._progress.succeeded} messages scored")
        return ScoreUnscoredResult(status=status, progress=self._progress, scored=self._progress.succeeded)


@workflow.defn(name="ReconcileTrackerInbox")
class ReconcileTrackerInboxWorkflow:
    """What the `tracker-inbox-reconcile` schedule runs: the inbox drainer runs, and chats whose extraction trigger
    was lost get it."""

    # Its task queue's kind (runtime/queues.py): the webhook chain's safety net.
    queue_kind = QueueKind.interactive

    @workflow.run
    async def run(self, inp: ReconcileInboxInput) -> ReconcileInboxResult:
        return await workflow.execute_activity_method(
            InboxActivities.reconcile_inbox,
            inp,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


def inbox_job(inp: TrackerInboxInput, job_id: str) -> JobRequest:
    return JobRequest(TrackerInboxWorkflow.run, inp, INBOX_JOB, WEBHOOK_OWNER, job_id)


def scoring_job(inp: ScoreUnscoredInput, owner: str) -> JobRequest:
    return JobRequest(ScoreUnscoredMessagesWorkflow.run, inp, SCORING_JOB, owner)
