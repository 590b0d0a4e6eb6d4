"""The tracker's webhook chain (seed 004's save_telegram_message → score_message_task → trigger): save an update's
message and its author's profile, fetch and cache the author's avatar, score messages, start knowledge extraction
for chats that have gathered enough, and the inbox sweep that starts workflows for updates that never got one.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import outside_failure
from activities.tracker_score_batch import score_unscored
from clients.telegram_bot import BotApiError, TelegramBotClient
from db import tracker_inbox, tracker_messages
from db.base import utcnow
from db.models.tracker import UserProfile
from db.session import SessionFactory
from db.tracker_messages import SavedMessage

# Starts (or finds) the workflow of a stored update; the worker wires it to `workflows.start`.
StartUpdate = Callable[[int], Awaitable[object]]
# Starts a chat's extraction, or tells the running one there is more: signal-with-start.
TriggerExtraction = Callable[[int], Awaitable[str]]


class ExtractionTrigger(BaseModel):
    threshold: int = 10
    window_hours: float = 24.0


class SaveUpdateInput(BaseModel):
    update_id: int


class ScoreInput(BaseModel):
    message_ids: list[int]
    # The chats of those messages: checked for the extraction threshold even when a retry finds them scored.
    chat_ids: list[int]


class ScoredMessage(BaseModel):
    message_id: int
    chat_id: int
    importance_score: float
    noise_class: str


class ScoreOutcome(BaseModel):
    # The messages' scores, whoever wrote them.
    scored: list[ScoredMessage]
    # The messages this call scored: a message is scored once, by the first call that finds it unscored.
    newly_scored: list[int] = []
    ready_chats: list[int]


class AvatarInput(BaseModel):
    profile_id: int


class AvatarOutcome(BaseModel):
    # fetched | none (the user shows no photo) | cached (an earlier attempt or message got it)
    status: str
    path: str | None = None


class TriggerInput(BaseModel):
    chat_id: int


class ReconcileInboxInput(BaseModel):
    grace_seconds: float
    batch: int = 500


class ReconcileInboxResult(BaseModel):
    started: list[int]


class TrackerActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        bot: TelegramBotClient,
        avatars_dir: Path,
        trigger: ExtractionTrigger,
        start_update: StartUpdate | None = None,
        trigger_extraction: TriggerExtraction | None = None,
    ) -> None:
        self._sessions = sessions
        self._bot = bot
        self._avatars = avatars_dir
        self._trigger = trigger
        self._start_update = start_update
        self._trigger_extraction = trigger_extraction

    @activity.defn(name="tracker.save_update")
    async def save_update(self, inp: SaveUpdateInput) -> SavedMessage:
        async with self._sessions() as session:
            saved = await tracker_messages.save_update(session, inp.update_id, utcnow())
        if saved is None:
            raise ApplicationError(f"update {inp.update_id} is not in the inbox", type="NotFound", non_retryable=True)
        # With no bot token there is nobody to ask for avatars; profiles stay unchecked until one is configured.
        saved.needs_avatar = saved.needs_avatar and self._bot.configured
        return saved

    @activity.defn(name="tracker.score_messages")
    async def score_messages(self, inp: ScoreInput) -> ScoreOutcome:
        now = utcnow()
        async with self._sessions() as session:
            newly = await score_unscored(session, inp.message_ids, now)
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
        return await self._trigger_extraction(inp.chat_id)

    @activity.defn(name="tracker.fetch_avatar")
    async def fetch_avatar(self, inp: AvatarInput) -> AvatarOutcome:
        async with self._sessions() as session:
            profile = await session.get(UserProfile, inp.profile_id)
        if profile is None:
            raise ApplicationError(f"profile {inp.profile_id} does not exist", type="NotFound", non_retryable=True)
        if profile.avatar_checked_at is not None:
            return AvatarOutcome(status="cached", path=profile.avatar_path)
        try:
            photos = await self._bot.get_user_profile_photos(profile.telegram_user_id, limit=1)
            if not photos.photos or not photos.photos[0]:
                await self._remember_avatar(inp.profile_id, None, None)
                return AvatarOutcome(status="none")
            largest = photos.photos[0][-1]
            file = await self._bot.get_file(largest.file_id)
            if not file.file_path:
                raise ApplicationError("getFile answered no file_path", type="BotApiError")
            content = await self._bot.download(file.file_path)
        except BotApiError as exc:
            raise outside_failure(exc) from exc
        suffix = Path(file.file_path).suffix or ".jpg"
        path = self._avatars / f"{profile.telegram_user_id}-{largest.file_unique_id}{suffix}"
        await asyncio.to_thread(_write_file, path, content)
        await self._remember_avatar(inp.profile_id, largest.file_id, str(path))
        return AvatarOutcome(status="fetched", path=str(path))

    async def _remember_avatar(self, profile_id: int, file_id: str | None, path: str | None) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(UserProfile)
                .where(UserProfile.id == profile_id)
                .values(avatar_file_id=file_id, avatar_path=path, avatar_checked_at=utcnow())
            )
            await session.commit()

    @activity.defn(name="tracker.reconcile_inbox")
    async def reconcile_inbox(self, inp: ReconcileInboxInput) -> ReconcileInboxResult:
        async with self._sessions() as session:
            waiting = await tracker_inbox.unsaved(session, utcnow() - timedelta(seconds=inp.grace_seconds), inp.batch)
        started = []
        for update_id in waiting:
            activity.heartbeat(update_id)
            await self._start_update(update_id)
            started.append(update_id)
        return ReconcileInboxResult(started=started)


def _write_file(path: Path, content: bytes) -> None:
    """Written under a temporary name and renamed, so a reader never sees half an avatar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(content)
    partial.replace(path)
