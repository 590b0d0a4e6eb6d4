"""The WebBuddy queue's transitions, each one atomic statement, shared by `claim_next` and the workflows.

A query is claimed exactly once: whoever moves it from `queued` to `in_progress` holds it, and
`claimed_by` says who — so a retried claim recognises its own earlier success.
"""

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Query, QueryLog, QueryStatus, User
from db.models.webbuddy import EXTERNAL, WORKFLOW_CLAIM


async def claim_next(session: AsyncSession) -> Query | None:
    """The oldest queued query, moved to in_progress for an external worker (`FOR UPDATE SKIP LOCKED`)."""
    oldest = (
        select(Query.id)
        .where(Query.status == QueryStatus.queued)
        .order_by(Query.query_created, Query.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    now = utcnow()
    claimed = await session.scalar(
        update(Query)
        .where(Query.id == oldest)
        .values(status=QueryStatus.in_progress, query_started=now, claimed_by=EXTERNAL, last_activity_at=now)
        .returning(Query)
    )
    await session.commit()
    return claimed


async def claim(session: AsyncSession, query_id: int, claimer: str, log: str) -> Query | None:
    """Claim one query for `claimer`; also succeeds when `claimer` already holds it. None: someone else has it.

    The `claimed` stage log commits with the claim, so a reader never sees one without the other.
    """
    now = utcnow()
    claimed = await session.scalar(
        update(Query)
        .where(
            Query.id == query_id,
            or_(
                Query.status == QueryStatus.queued,
                and_(Query.status == QueryStatus.in_progress, Query.claimed_by == claimer),
            ),
        )
        .values(
            status=QueryStatus.in_progress,
            query_started=now,
            claimed_by=claimer,
            last_activity_at=now,
        )
        .returning(Query)
    )
    if claimed is not None:
        await add_stage_log(session, claimed, "claimed", log)
    await session.commit()
    return claimed


async def finish(
    session: AsyncSession,
    query_id: int,
    claimer: str,
    status: QueryStatus,
    answer: str | None,
    error: str | None,
    log: str,
) -> bool:
    """Close a query the claimer holds (or a still-queued one, when cancelled before its claim).

    The closing stage log commits with the status, so `done` is never seen without it.
    """
    held = and_(Query.status == QueryStatus.in_progress, Query.claimed_by == claimer)
    closable = or_(held, Query.status == QueryStatus.queued) if status == QueryStatus.failed else held
    values = {"status": status, "query_finished": utcnow(), "last_activity_at": utcnow(), "error": error}
    if answer is not None:
        values["answer_text"] = answer
    closed = await session.scalar(update(Query).where(Query.id == query_id, closable).values(**values).returning(Query))
    if closed is not None:
        await add_stage_log(session, closed, status.value, log)
    await session.commit()
    return closed is not None


async def save_answer(session: AsyncSession, query_id: int, claimer: str, answer: str) -> None:
    """Keep the LLM's answer as soon as it arrives, so a retried attempt does not ask again."""
    await session.execute(
        update(Query).where(Query.id == query_id, Query.claimed_by == claimer).values(answer_text=answer)
    )
    await session.commit()


async def add_stage_log(session: AsyncSession, query: Query, stage: str, text: str) -> None:
    """A workflow's stage log, written once per (query, stage) however often the step runs; the caller commits."""
    await session.execute(
        insert(QueryLog)
        .values(project_id=query.project_id, query_id=query.id, stage=stage, log_data=text, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["query_id", "stage"])
    )


async def write_stage_log(session: AsyncSession, query: Query, stage: str, text: str) -> None:
    await add_stage_log(session, query, stage, text)
    await session.commit()


async def requeue_stale_external(session: AsyncSession, quiet_for: timedelta) -> list[int]:
    """External claims whose worker went quiet (no log, no PATCH) go back to the queue."""
    requeued = await session.scalars(
        update(Query)
        .where(
            Query.status == QueryStatus.in_progress,
            Query.claimed_by == EXTERNAL,
            Query.last_activity_at < utcnow() - quiet_for,
        )
        .values(status=QueryStatus.queued, query_started=None, claimed_by=None, last_activity_at=utcnow())
        .returning(Query.id)
    )
    ids = list(requeued)
    await session.commit()
    return ids


async def quiet_workflow_claims(session: AsyncSession, quiet_since: datetime, limit: int) -> list[tuple[int, str]]:
    """(query id, claimer) of queries held by workflow runs with no sign of life since `quiet_since`."""
    rows = await session.execute(
        select(Query.id, Query.claimed_by)
        .where(
            Query.status == QueryStatus.in_progress,
            Query.claimed_by.startswith(WORKFLOW_CLAIM),
            Query.last_activity_at < quiet_since,
        )
        .order_by(Query.last_activity_at)
        .limit(limit)
    )
    return [(row.id, row.claimed_by) for row in rows]


async def waiting_queries(session: AsyncSession, older_than: datetime, limit: int) -> list[tuple[int, str]]:
    """(query id, owner's username) of queued queries created before `older_than`, oldest first."""
    rows = await session.execute(
        select(Query.id, User.username)
        .join(User, User.id == Query.user_id)
        .where(Query.status == QueryStatus.queued, Query.query_created < older_than)
        .order_by(Query.query_created, Query.id)
        .limit(limit)
    )
    return [(row.id, row.username) for row in rows]
