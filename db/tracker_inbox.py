"""The webhook's inbox (`telegram_update`): accept an update once, hand waiting ones to the drainer a batch at a time,
and wake the drainer when one arrives.

The wake-up is a Postgres NOTIFY on `INBOX_CHANNEL`, sent in the transaction that stores the update: the drainer
LISTENs while the inbox is empty, so an update is taken within milliseconds without the webhook calling Temporal.
"""

from datetime import datetime

from sqlalchemy import exists, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models.tracker import TelegramUpdate

INBOX_CHANNEL = "longrun_tracker_inbox"


async def accept(session: AsyncSession, update_id: int, payload: dict) -> bool:
    """Store an update; False when it was already stored (Telegram delivers again what it thinks was lost)."""
    stored = await session.scalar(
        insert(TelegramUpdate)
        .values(update_id=update_id, payload=payload, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(TelegramUpdate.update_id)
    )
    if stored is not None:
        await session.execute(text("select pg_notify(:channel, '')"), {"channel": INBOX_CHANNEL})
    await session.commit()
    return stored is not None


async def unsaved(session: AsyncSession, received_before: datetime, limit: int) -> list[int]:
    """Updates stored before `received_before` whose message no workflow has saved yet, oldest first."""
    found = await session.scalars(
        select(TelegramUpdate.update_id)
        .where(TelegramUpdate.saved_at.is_(None), TelegramUpdate.received_at < received_before)
        .order_by(TelegramUpdate.received_at)
        .limit(limit)
    )
    return list(found)


async def take(session: AsyncSession, limit: int) -> list[TelegramUpdate]:
    """Up to `limit` waiting updates, oldest first, locked until the caller's transaction ends; rows another
    transaction holds are passed over rather than waited for."""
    found = await session.scalars(
        select(TelegramUpdate)
        .where(TelegramUpdate.saved_at.is_(None))
        .order_by(TelegramUpdate.received_at, TelegramUpdate.update_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(found)


def any_waiting():
    """A statement answering whether any update waits to be saved (served by the partial index on unsaved rows)."""
    return select(exists().where(TelegramUpdate.saved_at.is_(None)))
