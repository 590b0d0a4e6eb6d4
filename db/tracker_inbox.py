"""The webhook's inbox (`telegram_update`): accept an update once, hand waiting ones to the drainer a batch at a time,
and wake the drainer when one arrives.

The wake-up is a Postgres NOTIFY on `INBOX_CHANNEL`, sent in the transaction that stores the update: the drainer
LISTENs while the inbox is empty, so an update is taken within milliseconds without the webhook calling Temporal.
Only an update that finds the inbox empty sends it. Postgres serialises every committing transaction that
notifies (a global lock held through the commit's WAL flush), so a NOTIFY per update queued the webhook behind
itself and behind every event at a few hundred updates/s; a busy drainer takes again at once and needs no wake-up.
The one update that can miss its wake-up, stored while a take was committing the last waiting ones, is found by the
drainer's next recheck of the inbox (`WAKE_RECHECK_SECONDS`).
"""

from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models.tracker import TelegramUpdate

INBOX_CHANNEL = "longrun_tracker_inbox"


# The longest a waiting drainer goes without looking at the inbox itself, for the update whose wake-up was skipped.
WAKE_RECHECK_SECONDS = 1.0

# One statement, one round trip for a whole group of updates (api/inbox_group.py): each stored unless already there,
# and the drainer woken only when one was and nothing else waited (the subquery sees the inbox as it was before this
# insert; Postgres sends one NOTIFY per transaction for the same channel and payload). `received_at` follows the
# order the API took them in (the drainer takes oldest first): the transaction's start, plus a microsecond per place
# in the group, since now() is one instant for the whole group. A group's transaction starts after the one before
# it committed, and inserting a row takes longer than a microsecond, so every update of a later group is later still.
_ACCEPT = text(
    "WITH stored AS (INSERT INTO telegram_update (update_id, payload, received_at) "
    "SELECT u.update_id, CAST(u.payload AS jsonb), now() + (u.place - 1) * interval '1 microsecond' "
    "FROM unnest(CAST(:update_ids AS bigint[]), CAST(:payloads AS text[])) "
    "WITH ORDINALITY AS u(update_id, payload, place) "
    "ORDER BY u.place "
    "ON CONFLICT (update_id) DO NOTHING RETURNING update_id) "
    "SELECT update_id, (SELECT pg_notify(:channel, '') "
    "WHERE NOT EXISTS (SELECT FROM telegram_update WHERE saved_at IS NULL)) FROM stored"
)


async def accept(conn: AsyncConnection, updates: list[tuple[int, str]]) -> set[int]:
    """Store updates given as (update_id, payload as JSON text), in the order given, in the caller's transaction; the
    ids that were stored now (the others were already: Telegram delivers again what it thinks was lost). An id may
    come twice; it is stored once."""
    stored = await conn.execute(
        _ACCEPT,
        {
            "update_ids": [update_id for update_id, _ in updates],
            "payloads": [payload for _, payload in updates],
            "channel": INBOX_CHANNEL,
        },
    )
    return {row.update_id for row in stored}


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


async def waiting(db: AsyncSession | AsyncConnection, limit: int) -> int:
    """How many updates wait to be saved, counted up to `limit` (served by the partial index on unsaved rows)."""
    unsaved = select(TelegramUpdate.update_id).where(TelegramUpdate.saved_at.is_(None)).limit(limit).subquery()
    return await db.scalar(select(func.count()).select_from(unsaved)) or 0


async def set_aside(session: AsyncSession, update_id: int, error: str, now: datetime) -> None:
    """The update leaves the inbox unsaved, with why: it is not taken again, and a person can read what it was."""
    await session.execute(
        update(TelegramUpdate).where(TelegramUpdate.update_id == update_id).values(saved_at=now, error=error[:2000])
    )
