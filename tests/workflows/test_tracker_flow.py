"""The tracker workflows' own logic with stub activities: a trigger that arrives while a chat's extraction runs
makes it look again instead of being lost, a batch that fails for good gives its claim back, an update with no
message ends without scoring, and the inbox drainer tells a busy chat's extraction at most once a second without
losing the trigger it holds back."""

import asyncio
import uuid

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.tracker import SaveUpdateInput, ScoreInput, ScoreOutcome, TriggerInput
from activities.tracker_extraction import ExtractInput, ExtractOutcome, ReleaseInput
from activities.tracker_inbox import ChatsInput, TakeInput, TakeOutcome
from db.tracker_messages import SavedMessage
from devstack.clients import eventually
from tests.workflows.stubs import Gate
from workflows.base import JobStatus
from workflows.start import start_job
from workflows.tracker import TrackerUpdateInput, TrackerUpdateWorkflow
from workflows.tracker_extraction import MORE, ExtractKnowledgeInput, ExtractKnowledgeWorkflow, extraction_job
from workflows.tracker_inbox import TrackerInboxInput, TrackerInboxWorkflow, inbox_job


class Chat:
    """A chat whose batches are `claimable` in order (0: fewer than the threshold wait); `fail` fails the first."""

    def __init__(self, claimable: list[int], fail: bool = False, hold_first: bool = False) -> None:
        self.claimable = claimable
        self.fail = fail
        self.hold_first = hold_first
        self.claims: list[str] = []
        self.released: list[str] = []
        self.gate = Gate()

    @activity.defn(name="tracker.extract_batch")
    async def extract_batch(self, inp: ExtractInput) -> ExtractOutcome:
        self.claims.append(inp.claim)
        if self.hold_first and len(self.claims) == 1:
            await self.gate.enter("first")
        if self.fail:
            raise ApplicationError("the model refused", non_retryable=True)
        claimed = self.claimable.pop(0) if self.claimable else 0
        return ExtractOutcome(claimed=claimed, topics=1 if claimed else 0, atoms=claimed, messages_with_topic=claimed)

    @activity.defn(name="tracker.release_claim")
    async def release_claim(self, inp: ReleaseInput) -> int:
        self.released.append(inp.claim)
        return 0


async def test_a_trigger_during_a_batch_makes_the_extraction_look_again(env, run_worker):
    chat = Chat(claimable=[50, 0, 12, 0], hold_first=True)
    async with run_worker([ExtractKnowledgeWorkflow], [chat.extract_batch, chat.release_claim]) as settings:
        job = extraction_job(ExtractKnowledgeInput(chat_id=-uuid.uuid4().int % 10**9))
        handle = await start_job(env.client, settings, job, signal=MORE)
        await chat.gate.reached(1, "the first batch")
        # What a second message crossing the threshold does while the first batch runs.
        again = await start_job(env.client, settings, job, signal=MORE)
        assert again.id == handle.id
        chat.gate.release()
        result = await handle.result()
    assert result.status == JobStatus.completed
    # 50, then none waiting; the signal made it look again: 12, then none.
    assert len(chat.claims) == 4 and len(set(chat.claims)) == 4
    assert result.messages == 62 and result.batches == 2
    assert chat.released == []


async def test_a_batch_that_fails_for_good_gives_its_claim_back(env, run_worker):
    chat = Chat(claimable=[], fail=True)
    async with run_worker([ExtractKnowledgeWorkflow], [chat.extract_batch, chat.release_claim]) as settings:
        job = extraction_job(ExtractKnowledgeInput(chat_id=-uuid.uuid4().int % 10**9))
        result = await (await start_job(env.client, settings, job, signal=MORE)).result()
    assert chat.released == chat.claims[:1]
    assert result.status == JobStatus.completed and result.progress.errors


@activity.defn(name="tracker.save_update")
async def save_without_message(inp: SaveUpdateInput) -> SavedMessage:
    return SavedMessage(update_id=inp.update_id)


@activity.defn(name="tracker.score_messages")
async def never_score(inp: ScoreInput) -> ScoreOutcome:
    raise AssertionError("an update without a message is not scored")


@activity.defn(name="tracker.trigger_extraction")
async def never_trigger(inp: TriggerInput) -> str:
    raise AssertionError("an update without a message triggers nothing")


async def test_an_update_without_a_message_ends_without_scoring(env, run_worker):
    async with run_worker([TrackerUpdateWorkflow], [save_without_message, never_score, never_trigger]) as settings:
        handle = await env.client.start_workflow(
            TrackerUpdateWorkflow.run,
            TrackerUpdateInput(update_id=1),
            id=f"tracker-update-{uuid.uuid4().hex}",
            task_queue=settings.task_queue,
        )
        result = await handle.result()
    assert result.status == JobStatus.completed and result.message_id is None and not result.scored
    assert result.progress.skipped == 2


class Inbox:
    """An inbox whose takes answer `takes` in order, then nothing; it waits as the real take does (beating, so a
    cancel reaches it), for at most `idle` seconds, however long the drainer allows."""

    def __init__(self, takes: list[TakeOutcome], idle: float = 0.2) -> None:
        self.takes = takes
        self.idle = idle
        self.waits: list[float] = []
        self.triggers: list[list[int]] = []

    @activity.defn(name="tracker.take_updates")
    async def take_updates(self, inp: TakeInput) -> TakeOutcome:
        self.waits.append(inp.wait_seconds)
        if self.takes:
            return self.takes.pop(0)
        deadline = asyncio.get_running_loop().time() + min(inp.wait_seconds, self.idle)
        while asyncio.get_running_loop().time() < deadline:
            activity.heartbeat()
            await asyncio.sleep(0.02)
        return TakeOutcome()

    @activity.defn(name="tracker.trigger_extractions")
    async def trigger_extractions(self, inp: ChatsInput) -> list[str]:
        self.triggers.append(inp.chat_ids)
        return [f"extraction-{c}" for c in inp.chat_ids]

    @activity.defn(name="tracker.profiles_awaiting_avatar")
    async def profiles_awaiting_avatar(self, limit: int) -> list[int]:
        return []


async def test_a_ready_chat_is_told_once_a_second_and_a_held_back_one_is_told_later(env, run_worker):
    busy = [TakeOutcome(updates=10, messages=10, ready_chats=[1, 2]), TakeOutcome(updates=10, messages=10)]
    inbox = Inbox(busy + [TakeOutcome(updates=10, messages=10, ready_chats=[1, 2, 3])])
    activities = [inbox.take_updates, inbox.trigger_extractions, inbox.profiles_awaiting_avatar]
    async with run_worker([TrackerInboxWorkflow], activities) as settings:
        job = inbox_job(TrackerInboxInput(wait_seconds=30), f"tracker-inbox-{uuid.uuid4().hex[:8]}")
        handle = await start_job(env.client, settings, job)

        async def held_back_told() -> bool:
            return len(inbox.triggers) >= 3

        await eventually(held_back_told, "the held-back chats triggered", within=20)
        await handle.signal(TrackerInboxWorkflow.cancel)
        result = await handle.result()
    # Chats 1 and 2 were told at once; 3, new, too; 1 and 2, ready again within the second, only when it passed.
    assert inbox.triggers[:3] == [[1, 2], [3], [1, 2]]
    # While they were held back, the next take waited no longer than until they were due, not the drainer's 30 s.
    assert inbox.waits[:3] == [30.0] * 3 and 0 <= inbox.waits[3] <= 1.0
    assert result.status == JobStatus.cancelled
    assert result.progress.details["extractions_triggered"] == 5
