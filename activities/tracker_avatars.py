"""Telegram users' avatars, fetched through the Bot API (getUserProfilePhotos → getFile → download) and cached on
disk beside the profile. A profile is looked at once: `avatar_checked_at` is set also when the user shows no photo.
"""

import asyncio
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import update
from temporalio.exceptions import ApplicationError

from activities.errors import outside_failure
from clients.telegram_bot import BotApiError, TelegramBotClient
from db.base import utcnow
from db.models.tracker import UserProfile
from db.session import SessionFactory


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
        path = self._dir / f"{profile.telegram_user_id}-{largest.file_unique_id}{suffix}"
        await asyncio.to_thread(_write_file, path, content)
        await self._remember(profile_id, largest.file_id, str(path))
        return AvatarOutcome(status="fetched", path=str(path))

    async def _remember(self, profile_id: int, file_id: str | None, path: str | None) -> None:
        async with self._sessions() as session:
            await session.execute(
                update(UserProfile)
                .where(UserProfile.id == profile_id)
                .values(avatar_file_id=file_id, avatar_path=path, avatar_checked_at=utcnow())
            )
            await session.commit()


def _write_file(path: Path, content: bytes) -> None:
    """Written under a temporary name and renamed, so a reader never sees half an avatar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(content)
    partial.replace(path)
