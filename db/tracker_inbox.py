"""The webhook's inbox (`telegram_update`): accept an update once, and find the ones whose workflow never saved them."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models.tracker import TelegramUpdate


async def accept(session: AsyncSession, update_id: int, payload: dict) -> bool:
    """Store an update; False when it was already stored (Telegram delivers again what it thinks was lost)."""
    stored = await session.scalar(
        insert(TelegramUpdate)
        .values(update_id=update_id, payload=payload, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(TelegramUpdate.update_id)
    )
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
