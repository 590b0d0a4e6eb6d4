"""The bot's outbox: messages to send, taken by any API process, each held while it is being sent.

Bounded by construction: a job has at most one progress notice waiting (a newer one replaces it), and a notice not
sent within its age limit is dropped. What the Bot API does never reaches whoever enqueues."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import TelegramNotice

# Retries of a failed send wait this long times the attempts so far (up to a minute).
RETRY_STEP_SECONDS = 5.0


@dataclass(frozen=True)
class Outgoing:
    id: int
    chat_id: int
    text: str


async def enqueue(session: AsyncSession, chat_id: int, text: str, kind: str, job_id: str | None = None) -> None:
    """Add a message to the outbox in the caller's transaction; a job's waiting progress notice gives way to this
    one."""
    if kind == "progress" and job_id is not None:
        await session.execute(
            delete(TelegramNotice).where(
                TelegramNotice.job_id == job_id, TelegramNotice.kind == "progress", TelegramNotice.attempts == 0
            )
        )
    session.add(TelegramNotice(chat_id=chat_id, text=text, kind=kind, job_id=job_id, attempts=0, due_at=utcnow()))


async def take(session: AsyncSession, limit: int, hold: timedelta, max_age: timedelta) -> list[Outgoing]:
    """Drop what waited too long, then hold up to `limit` due messages for `hold` (another process skips them)."""
    now = utcnow()
    await session.execute(delete(TelegramNotice).where(TelegramNotice.created_at < now - max_age))
    due = (
        select(TelegramNotice.id)
        .where(TelegramNotice.due_at <= now)
        .order_by(TelegramNotice.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.execute(
        update(TelegramNotice)
        .where(TelegramNotice.id.in_(due.scalar_subquery()))
        .values(due_at=now + hold)
        .returning(TelegramNotice.id, TelegramNotice.chat_id, TelegramNotice.text)
    )
    taken = [Outgoing(row.id, row.chat_id, row.text) for row in rows]
    await session.commit()
    return sorted(taken, key=lambda o: o.id)


async def sent(session: AsyncSession, notice_id: int) -> None:
    await session.execute(delete(TelegramNotice).where(TelegramNotice.id == notice_id))
    await session.commit()


async def failed(session: AsyncSession, notice_id: int, error: str, permanent: bool) -> None:
    """A send that failed: tried again later, or dropped when asking again cannot help (the user blocked the bot)."""
    if permanent:
        await sent(session, notice_id)
        return
    notice = await session.get(TelegramNotice, notice_id)
    if notice is None:
        return
    notice.attempts += 1
    notice.error = error[:500]
    notice.due_at = utcnow() + timedelta(seconds=min(60.0, RETRY_STEP_SECONDS * notice.attempts))
    await session.commit()
