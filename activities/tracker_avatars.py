"""Telegram users' avatars, fetched through the Bot API (getUserProfilePhotos → getFile → download) and cached on
disk beside the profile. A profile is looked at once: `avatar_checked_at` is set also when the user shows no photo.

The steps: one author's avatar for the per-update workflow (`tracker.fetch_avatar`), a batch's new authors and the
sweep's leftovers for the inbox drainer (`tracker.fetch_avatars`, `tracker.profiles_awaiting_avatar`).
"""

import asyncio
import logging
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.telegram_bot import BotApiError, TelegramBotClient
from db import tracker_messages
from db.base import utcnow
from db.models.tracker import UserProfile
from db.session import SessionFactory
from runtime.errors import outside_failure

log = logging.getLogger(__name__)

# Avatars fetched at once: the Bot API is polite to a few parallel requests, and so are we.
AVATAR_CONCURRENCY = 4


class AvatarInput(BaseModel):
    profile_id: int


class AvatarsInput(BaseModel):
    profile_ids: list[int]


class AvatarsOutcome(BaseModel):
    # fetched | none | cached | failed → how many
    counts: dict[str, int] = {}
    errors: list[str] = []


class AvatarOutcome(BaseModel):
    # fetched | none (the user shows no photo) | cached (an earlier attempt or message got it)
    status: str
    path: str | None = None


class AvatarCache:
    def __init__(self, sessions: SessionFactory, bot: TelegramBotClient, avatars_dir: Path) -> None:
        self._sessions = sessions
        self._bot = bot
        self._dir = avatars_dir

    @property
    def configured(self) -> bool:
        """With no bot token there is nobody to ask; profiles stay unchecked until one is configured."""
        return self._bot.configured

    async def fetch(self, profile_id: int) -> AvatarOutcome:
        """The profile's avatar, fetched unless already looked for; a Bot API failure raises `outside_failure`."""
        async with self._sessions() as session:
            profile = await session.get(UserProfile, profile_id)
        if profile is None:
            raise ApplicationError(f"profile {profile_id} does not exist", type="NotFound", non_retryable=True)
        if profile.avatar_checked_at is not None:
            return AvatarOutcome(status="cached", path=profile.avatar_path)
        try:
            photos = await self._bot.get_user_profile_photos(profile.telegram_user_id, limit=1)
            if not photos.photos or not photos.photos[0]:
                await self._remember(profile_id, None, None)
                return AvatarOutcome(status="none")
            largest = photos.photos[0][-1]
            file = await self._bot.get_file(largest.file_id)
            if not file.file_path:
                raise ApplicationError("getFile answered no file_path", type="BotApiError")
            content = await self._bot.download(file.file_path)
        except BotApiError as exc:
            raise outside_failure(exc) from exc
        suffix = Path(file.file_path).suffix or ".jpg"
        # Stored relative to the avatars directory: the API finds it under its own, wherever the shared volume is
        # mounted on its host (settings.shared_dir).
        name = f"{profile.telegram_user_id}-{largest.file_unique_id}{suffix}"
        await asyncio.to_thread(_write_file, self._dir / name, content)
        await self._remember(profile_id, largest.file_id, name)
        return AvatarOutcome(status="fetched", path=name)

    async def _remember(self, profile_id: int, file_id: str | None, path: str | None) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(UserProfile)
                .where(UserProfile.id == profile_id)
                .values(avatar_file_id=file_id, avatar_path=path, avatar_checked_at=utcnow())
            )
            await session.commit()


class AvatarActivities:
    def __init__(self, sessions: SessionFactory, cache: AvatarCache) -> None:
        self._sessions = sessions
        self._cache = cache

    @activity.defn(name="tracker.fetch_avatar")
    async def fetch_avatar(self, inp: AvatarInput) -> AvatarOutcome:
        return await self._cache.fetch(inp.profile_id)

    @activity.defn(name="tracker.fetch_avatars")
    async def fetch_avatars(self, inp: AvatarsInput) -> AvatarsOutcome:
        """Each profile's avatar; one that fails, whatever the fault (the Bot API's, a file that cannot be written,
        the database's), is counted, logged and left unchecked, to be tried with the author's next message or the next
        sweep, and never fails the others: an avatar is cosmetic, so it is not worth a retry that holds the step."""
        outcome = AvatarsOutcome()
        gate = asyncio.Semaphore(AVATAR_CONCURRENCY)

        async def one(profile_id: int) -> None:
            async with gate:
                try:
                    status = (await self._cache.fetch(profile_id)).status
                except Exception as exc:
                    status = "failed"
                    outcome.errors.append(f"profile {profile_id}: {str(exc) or type(exc).__name__}"[:300])
                    log.warning("avatar of profile %s not fetched, left for later: %r", profile_id, exc)
                outcome.counts[status] = outcome.counts.get(status, 0) + 1
                activity.heartbeat(profile_id)

        await asyncio.gather(*(one(p) for p in inp.profile_ids))
        outcome.errors = outcome.errors[:10]
        return outcome

    @activity.defn(name="tracker.profiles_awaiting_avatar")
    async def profiles_awaiting_avatar(self, limit: int) -> list[int]:
        if not self._cache.configured:
            return []
        async with self._sessions() as session:
            return await tracker_messages.awaiting_avatar(session, limit)


def _write_file(path: Path, content: bytes) -> None:
    """Written under a temporary name and renamed, so a reader never sees half an avatar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(content)
    partial.replace(path)
