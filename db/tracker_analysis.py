"""An analysis run's database side: its window's messages, a batch's proposals written once, its end.

A run's batches go one after another, so the run row's `batches_completed` is also the record of which batches are
written: a batch's write locks the row and does nothing when the count is already past the value the workflow
counted before the batch (an earlier attempt wrote it and lost its answer). Proposals carry the unique key
(run, batch, position) besides, so no retry can add a second copy. Counters are set, never added to:
`proposals_total` is counted from the proposals themselves.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import AnalysisRun, Message, TaskProposal


@dataclass(frozen=True)
class WindowMessage:
    id: int
    text: str


@dataclass(frozen=True)
class ProposalDraft:
    title: str
    description: str
    priority: str | None
    confidence: float
    source_message_ids: list[int]


@dataclass(frozen=True)
class BatchWritten:
    # False: an earlier attempt had written this batch; nothing was written now.
    written: bool
    proposals: int
    batches_completed: int
    proposals_total: int


async def locked_run(session: AsyncSession, run_id: int) -> AnalysisRun | None:
    return await session.get(AnalysisRun, run_id, with_for_update=True, populate_existing=True)


async def window_messages(session: AsyncSession, start: datetime, end: datetime) -> list[WindowMessage]:
    """Every message sent in [start, end), oldest first."""
    rows = await session.execute(
        select(Message.id, Message.text)
        .where(Message.sent_at >= start, Message.sent_at < end)
        .order_by(Message.sent_at, Message.id)
    )
    return [WindowMessage(r.id, r.text) for r in rows]


async def window_count(session: AsyncSession, start: datetime, end: datetime) -> int:
    """How many messages were sent in [start, end): counted by the database, no text read."""
    return (
        await session.execute(
            select(func.count()).select_from(Message).where(Message.sent_at >= start, Message.sent_at < end)
        )
    ).scalar_one()


@dataclass(frozen=True)
class PagedMessage:
    id: int
    text: str
    sent_at: datetime


async def window_page(
    session: AsyncSession, start: datetime, end: datetime, after: tuple[datetime, int] | None, limit: int
) -> list[PagedMessage]:
    """Up to `limit` messages of [start, end) after `after` (sent_at, id), oldest first: the window in the order
    `window_messages` gives it, a page at a time."""
    where = [Message.sent_at >= start, Message.sent_at < end]
    if after is not None:
        where.append(tuple_(Message.sent_at, Message.id) > tuple_(*after))
    rows = await session.execute(
        select(Message.id, Message.text, Message.sent_at)
        .where(*where)
        .order_by(Message.sent_at, Message.id)
        .limit(limit)
    )
    return [PagedMessage(r.id, r.text, r.sent_at) for r in rows]


async def batch_texts(session: AsyncSession, message_ids: list[int]) -> list[WindowMessage]:
    """A batch's messages in the order the run planned them."""
    rows = {
        r.id: r.text for r in await session.execute(select(Message.id, Message.text).where(Message.id.in_(message_ids)))
    }
    return [WindowMessage(m, rows[m]) for m in message_ids if m in rows]


async def proposals_of(session: AsyncSession, run_id: int, batch_index: int | None = None) -> int:
    where = [TaskProposal.analysis_run_id == run_id]
    if batch_index is not None:
        where.append(TaskProposal.batch_index == batch_index)
    return (await session.execute(select(func.count()).select_from(TaskProposal).where(*where))).scalar_one()


async def written_before(session: AsyncSession, run: AnalysisRun, batch_index: int) -> BatchWritten:
    """What an earlier attempt wrote of a batch the run's count is already past."""
    proposals = await proposals_of(session, run.id, batch_index)
    return BatchWritten(False, proposals, run.batches_completed, run.proposals_total)


async def write_batch(
    session: AsyncSession,
    run: AnalysisRun,
    batch_index: int,
    completed_before: int,
    drafts: list[ProposalDraft],
    now: datetime,
) -> BatchWritten:
    """The batch's proposals and the run's counters, on the caller's transaction (the row is locked)."""
    if run.batches_completed > completed_before:
        return await written_before(session, run, batch_index)
    if drafts:
        await session.execute(
            insert(TaskProposal)
            .values(
                [
                    {
                        "analysis_run_id": run.id,
                        "batch_index": batch_index,
                        "position": position,
                        "title": draft.title[:500],
                        "description": draft.description,
                        "priority": draft.priority,
                        "confidence": draft.confidence,
                        "source_message_ids": draft.source_message_ids,
                        "created_at": now,
                    }
                    for position, draft in enumerate(drafts)
                ]
            )
            .on_conflict_do_nothing(index_elements=["analysis_run_id", "batch_index", "position"])
        )
    run.batches_completed = completed_before + 1
    run.proposals_total = await proposals_of(session, run.id)
    return BatchWritten(True, len(drafts), run.batches_completed, run.proposals_total)


def log_error(run: AnalysisRun, batch_index: int | None, error: str) -> None:
    """Add an entry to the run's error_log unless that batch already has one."""
    entries = run.error_log or []
    if all(entry.get("batch") != batch_index for entry in entries):
        run.error_log = [*entries, {"batch": batch_index, "error": error}]
