"""The steps of the per-update workflow (TrackerUpdate) the webhook chain began with: save one update's message and
its author's profile, fetch the avatar, score, trigger extraction. The inbox drainer (activities/tracker_inbox.py)
does this a batch at a time now; these stay registered so runs started before it can finish.
"""

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.tracker_avatars import AvatarCache
from activities.tracker_inbox import ExtractionTrigger, TriggerExtraction
from db import tracker_messages
from db.base import utcnow
from db.session import SessionFactory
from db.tracker_messages import SavedMessage
from db.tracker_scoring import ScoredMessage, score_stored


class SaveUpdateInput(BaseModel):
    update_id: int


class ScoreInput(BaseModel):
    message_ids: list[int]
    # The chats of those messages: checked for the extraction threshold even when a retry finds them scored.
    chat_ids: list[int]


class ScoreOutcome(BaseModel):
    # The messages' scores, whoever wrote them.
    scored: list[ScoredMessage]
    # The messages this call scored: a message is scored once, by the first call that finds it unscored.
    newly_scored: list[int] = []
    ready_chats: list[int]


class TriggerInput(BaseModel):
    chat_id: int


class TrackerActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        avatars: AvatarCache,
        trigger: ExtractionTrigger,
        trigger_extraction: TriggerExtraction | None = None,
    ) -> None:
        self._sessions = sessions
        self._avatars = avatars
        self._trigger = trigger
        self._trigger_extraction = trigger_extraction

    @activity.defn(name="tracker.save_update")
    async def save_update(self, inp: SaveUpdateInput) -> SavedMessage:
        async with self._sessions() as session:
            saved = await tracker_messages.save_update(session, inp.update_id, utcnow())
        if saved is None:
            raise ApplicationError(f"update {inp.update_id} is not in the inbox", type="NotFound", non_retryable=True)
        saved.needs_avatar = saved.needs_avatar and self._avatars.configured
        return saved

    @activity.defn(name="tracker.score_messages")
    async def score_messages(self, inp: ScoreInput) -> ScoreOutcome:
        now = utcnow()
        async with self._sessions() as session:
            newly = [m.message_id for m in await score_stored(session, inp.message_ids, now)]
            await session.commit()
            # Read back rather than reported from here: a retry whose first attempt wrote the scores (and then lost
            # its answer) reports the same scores.
            scores = await tracker_messages.scores(session, inp.message_ids)
            since = now - timedelta(hours=self._trigger.window_hours)
            ready = await tracker_messages.chats_ready(
                session, sorted(set(inp.chat_ids)), self._trigger.threshold, since
            )
        return ScoreOutcome(
            scored=[ScoredMessage(message_id=i, chat_id=c, importance_score=v, noise_class=k) for i, c, v, k in scores],
            newly_scored=newly,
            ready_chats=ready,
        )

    @activity.defn(name="tracker.trigger_extraction")
    async def trigger_extraction(self, inp: TriggerInput) -> str:
        assert self._trigger_extraction is not None, "the worker gives TrackerActivities its trigger_extraction"
        return await self._trigger_extraction(inp.chat_id)
