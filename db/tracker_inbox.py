"""The webhook's inbox (`telegram_update`): accept an update once, hand waiting ones to the drainer a batch at a time,
and wake the drainer when one arrives.

The wake-up is a Postgres NOTIFY on `INBOX_CHANNEL`, sent in the transaction that stores the update: the drainer
LISTENs while the inbox is empty, so an update is taken within milliseconds without the webhook calling Temporal.
"""

import json

from sqlalchemy import exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import TelegramUpdate

INBOX_CHANNEL = "longrun_tracker_inbox"


# One statement, one round trip: the update stored unless already there, and the drainer woken only when it was.
_ACCEPT = text(
    "WITH stored AS (INSERT INTO telegram_update (update_id, payload, received_at) "
    "VALUES (:update_id, CAST(:payload AS jsonb), now()) ON CONFLICT (update_id) DO NOTHING RETURNING update_id) "
    "SELECT pg_notify(:channel, '') FROM stored"
)


async def accept(session: AsyncSession, update_id: int, payload: dict) -> bool:
    """Store an update; False when it was already stored (Telegram delivers again what it thinks was lost).

    Runs on its own in autocommit: the webhook answers Telegram only once the update is durably stored."""
    conn = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    stored = await conn.execute(
        _ACCEPT,
        {"update_id": update_id, "payload": json.dumps(payload, ensure_ascii=False), "channel": INBOX_CHANNEL},
    )
    return stored.first() is not None


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
