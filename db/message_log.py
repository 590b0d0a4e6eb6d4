"""The migration's message log, one statement per step and a page at a time (never a query per message).

A message's way through the log: `pending` (read, with its post) → intent (`send_started_at`) →
`success` with the MAX message id (post cleared) or `failed` with MAX's reason; `skipped` for what MAX
cannot show. `success` and `skipped` are final: re-runs and retried pages leave them as they are.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, func, null, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.base import utcnow
from db.models import MessageLog, MessageStatus
from domain.posts import Post

FINAL = (MessageStatus.success.value, MessageStatus.skipped.value)
# Statements go to the table, not the ORM entity: the ORM's bulk-update bookkeeping (matching rows in the
# session) was a fifth of a migration worker's CPU, for sessions that never hold a MessageLog object.
# A declarative class maps a Table; SQLAlchemy types `__table__` as the wider FromClause.
LOG = cast(Table, MessageLog.__table__)


async def already_done(session: AsyncSession, link_id: int, message_ids: Iterable[int]) -> set[int]:
    """One query for a whole page: which of these messages an earlier run already took care of."""
    ids = list(message_ids)
    if not ids:
        return set()
    found = await session.scalars(
        select(MessageLog.telegram_message_id).where(
            MessageLog.crossposting_link_id == link_id,
            MessageLog.telegram_message_id.in_(ids),
            MessageLog.status.in_(FINAL),
        )
    )
    return set(found)


def _rows(link_id: int, posts: Iterable[Post], status: MessageStatus, error: str | None) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "crossposting_link_id": link_id,
            "telegram_message_id": member,
            "post_id": post.id,
            "status": status.value,
            "error": error or post.skip_reason,
            # The whole post rides on its first message only: the publish step reads posts, not members.
            "post": post.model_dump(mode="json") if member == post.id and status == MessageStatus.pending else None,
            "posted_at": post.date,
            "created_at": now,
            "updated_at": now,
        }
        for post in posts
        for member in post.member_ids
    ]


async def mark_pending(session: AsyncSession, link_id: int, posts: list[Post]) -> None:
    """Store posts to publish; a failed or never-finished message becomes pending again, a final one stays."""
    rows = _rows(link_id, posts, MessageStatus.pending, None)
    if not rows:
        return
    stmt = insert(LOG).values(rows)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["crossposting_link_id", "telegram_message_id"],
            # An intent (send_started_at) is kept: the next publish must ask MAX before sending again.
            set_={
                "status": MessageStatus.pending.value,
                "post": stmt.excluded.post,
                "post_id": stmt.excluded.post_id,
                "error": None,
                "updated_at": stmt.excluded.updated_at,
            },
            where=LOG.c.status.not_in(FINAL),
        )
    )


async def mark_skipped(session: AsyncSession, link_id: int, posts: list[Post]) -> None:
    rows = _rows(link_id, posts, MessageStatus.skipped, None)
    if rows:
        await session.execute(insert(LOG).values(rows).on_conflict_do_nothing())


@dataclass
class Waiting:
    """A post still to publish. `intent_at`: when an earlier attempt began sending its next part without
    recording the end; `sent`: the MAX ids of its parts (a long text goes as several messages) known to
    have arrived."""

    post: Post
    intent_at: datetime | None = None
    sent: list[str] = field(default_factory=list)


async def pending_posts(session: AsyncSession, link_id: int, message_ids: list[int]) -> list[Waiting]:
    """The posts of these messages still waiting, oldest first."""
    rows = await session.execute(
        select(MessageLog.post, MessageLog.max_message_id, MessageLog.send_started_at)
        .where(
            MessageLog.crossposting_link_id == link_id,
            MessageLog.telegram_message_id.in_(message_ids),
            MessageLog.telegram_message_id == MessageLog.post_id,
            MessageLog.status == MessageStatus.pending.value,
        )
        .order_by(MessageLog.telegram_message_id)
    )
    return [
        Waiting(
            post=Post.model_validate(row.post),
            intent_at=row.send_started_at,
            sent=row.max_message_id.split(",") if row.max_message_id else [],
        )
        for row in rows
    ]


async def record_intent(session: AsyncSession | AsyncConnection, link_id: int, post: Post, sent: list[str]) -> datetime:
    """Before each send: from here on, a crash leaves an intent that makes the next attempt ask MAX first.

    `sent` are the parts MAX is known to have, so the intent is for the part after them. Answers its time.
    A post with no row (never marked pending) fails here rather than being sent with no intent recorded."""
    return (
        await session.execute(
            update(LOG)
            .where(LOG.c.crossposting_link_id == link_id, LOG.c.telegram_message_id == post.id)
            .values(send_started_at=func.now(), max_message_id=",".join(sent) or None)
            .returning(LOG.c.send_started_at)
        )
    ).scalar_one()


async def record_outcome(
    session: AsyncSession | AsyncConnection,
    link_id: int,
    post: Post,
    status: MessageStatus,
    *,
    max_message_id: str | None = None,
    error: str | None = None,
    prepare_ms: int | None = None,
    send_ms: int | None = None,
    media_bytes: int | None = None,
) -> None:
    """After the send (or the refusal): every member of the post gets the outcome; the stored post goes."""
    await session.execute(
        update(LOG)
        .where(LOG.c.crossposting_link_id == link_id, LOG.c.telegram_message_id.in_(post.member_ids))
        .values(
            status=status.value,
            max_message_id=max_message_id,
            error=error,
            post=null() if status == MessageStatus.success else LOG.c.post,
            sent_at=func.now() if status == MessageStatus.success else None,
            # MAX refused the post outright: nothing of it arrived, so a later retry has nothing to look for.
            send_started_at=LOG.c.send_started_at if status == MessageStatus.success else None,
            prepare_ms=prepare_ms,
            send_ms=send_ms,
            media_bytes=media_bytes,
            updated_at=utcnow(),
        )
    )


async def known_max_ids(session: AsyncSession, link_id: int, candidates: list[str]) -> set[str]:
    """Which of these MAX message ids the log already holds for the link (a part list holds several)."""
    if not candidates:
        return set()
    rows = await session.scalars(
        select(MessageLog.max_message_id).where(
            MessageLog.crossposting_link_id == link_id,
            MessageLog.max_message_id.is_not(None),
            MessageLog.telegram_message_id == MessageLog.post_id,
            func.string_to_array(MessageLog.max_message_id, ",").op("&&")(candidates),
        )
    )
    return {mid for value in rows if value for mid in value.split(",")} & set(candidates)


async def tally(session: AsyncSession, link_id: int, message_ids: list[int]) -> dict[str, int]:
    rows = await session.execute(
        select(MessageLog.status, func.count())
        .where(MessageLog.crossposting_link_id == link_id, MessageLog.telegram_message_id.in_(message_ids))
        .group_by(MessageLog.status)
    )
    return {status: count for status, count in rows}


async def failed_after(session: AsyncSession, link_id: int, after_id: int, limit: int) -> list[int]:
    rows = await session.scalars(
        select(MessageLog.telegram_message_id)
        .where(
            and_(
                MessageLog.crossposting_link_id == link_id,
                MessageLog.status == MessageStatus.failed.value,
                MessageLog.telegram_message_id > after_id,
            )
        )
        .order_by(MessageLog.telegram_message_id)
        .limit(limit)
    )
    return list(rows)


async def count_by_status(session: AsyncSession, link_id: int) -> dict[str, int]:
    """The link's whole log by status; the (link, status, message) index answers it."""
    rows = await session.execute(
        select(MessageLog.status, func.count())
        .where(MessageLog.crossposting_link_id == link_id)
        .group_by(MessageLog.status)
    )
    return {status: count for status, count in rows}


async def count_posts_published(session: AsyncSession, link_id: int) -> int:
    """Posts in MAX (an album or a long text is one post, one row per member): what a rate is set against MAX's
    messages per second with."""
    return (
        await session.execute(
            select(func.count()).where(
                MessageLog.crossposting_link_id == link_id,
                MessageLog.status == MessageStatus.success.value,
                MessageLog.telegram_message_id == MessageLog.post_id,
            )
        )
    ).scalar_one()


async def count_failed(session: AsyncSession, link_id: int) -> int:
    return (
        await session.execute(
            select(func.count()).where(
                MessageLog.crossposting_link_id == link_id, MessageLog.status == MessageStatus.failed.value
            )
        )
    ).scalar_one()
