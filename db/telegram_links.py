"""Linking a Telegram account to a Longrun user: a one-time code the user sends the bot as `/start <code>`."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import TelegramLinkCode, User

# Telegram's start parameter: up to 64 of A-Z, a-z, 0-9, _ and -. 24 random bytes are 32 of them.
CODE_BYTES = 24
UNLINKED = {"telegram_user_id": None, "telegram_language": None, "telegram_linked_at": None}


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def new_code(session: AsyncSession, user_id: int, ttl: timedelta) -> tuple[str, datetime]:
    """A fresh code for `user_id` (the user's earlier unused codes stop working), and when it expires."""
    code = secrets.token_urlsafe(CODE_BYTES)
    expires_at = utcnow() + ttl
    await session.execute(
        delete(TelegramLinkCode).where(TelegramLinkCode.user_id == user_id, TelegramLinkCode.used_by.is_(None))
    )
    session.add(TelegramLinkCode(code_hash=code_hash(code), user_id=user_id, expires_at=expires_at))
    await session.commit()
    return code, expires_at


@dataclass(frozen=True)
class Linked:
    username: str
    # False when this account had already used this code (Telegram delivering the same /start again).
    new: bool


async def link(session: AsyncSession, code: str, telegram_user_id: int, language: str | None) -> Linked | None:
    """Link the account to the code's user; None for a code unknown, expired or used by another account."""
    row = await session.get(TelegramLinkCode, code_hash(code), with_for_update=True)
    if row is None or (row.used_by is not None and row.used_by != telegram_user_id):
        return None
    user = await session.get(User, row.user_id)
    if user is None:
        return None
    if row.used_by == telegram_user_id:
        return Linked(user.username, new=False)
    if row.expires_at < utcnow():
        return None
    row.used_by = telegram_user_id
    # One account, one user: linking it here unlinks it from whoever had it.
    await session.execute(
        update(User).where(User.telegram_user_id == telegram_user_id, User.id != user.id).values(**UNLINKED)
    )
    await session.flush()
    user.telegram_user_id, user.telegram_language, user.telegram_linked_at = telegram_user_id, language, utcnow()
    await session.commit()
    return Linked(user.username, new=True)


async def unlink(session: AsyncSession, user_id: int) -> None:
    await session.execute(update(User).where(User.id == user_id).values(**UNLINKED))
    await session.commit()


async def linked_users(session: AsyncSession) -> dict[str, tuple[int, str | None]]:
    """Every linked, active user: username → (Telegram user id, Telegram language)."""
    rows = await session.execute(
        select(User.username, User.telegram_user_id, User.telegram_language).where(
            User.telegram_user_id.is_not(None), User.is_active
        )
    )
    return {row.username: (row.telegram_user_id, row.telegram_language) for row in rows}
