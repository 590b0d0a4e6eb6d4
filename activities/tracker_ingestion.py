"""A chat's history imported into the tracker, a page at a time.

Each step writes its messages, the job row's counters and the events that report them in one transaction, so a
client never hears of a write that did not happen and a retried step neither counts twice nor says twice:

- `begin` moves the row from pending to running and says `ingestion.started` (always event 1);
- `ingest_page` reads up to 100 messages below the cursor through pyrogram, keeps them (a message already stored,
  by the webhook or an earlier ingestion, is skipped: ON CONFLICT DO NOTHING on (chat, message id)), scores the
  new ones, adds to the counters and says `ingestion.progress` when 10 more messages have been read. The row is
  locked and its `messages_fetched` must still be what the workflow last heard: when it is not, an earlier attempt
  of this page has committed (and died before answering), so this one writes nothing and answers what was written;
- `finish` closes the row (completed, failed with its error, or cancelled) and says `ingestion.completed` or
  `ingestion.failed` with the counts.

Events are numbered by `JobEvents` from the `EventCursor` the workflow keeps; whether a page said progress depends
only on the counts before and after it (`events_after`), so a step that finds a page committed behind its back
knows which numbers that page used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.telegram import HISTORY_CHUNK
from clients.telegram_history import ChatHistory, ChatMessage, HistoryPage
from db import tracker_messages
from db.base import utcnow
from db.events import EventName, JobEvents
from db.models.tracker import JobRecordStatus, MessageIngestionJob, MessageSource
from db.session import SessionFactory
from db.tracker_messages import NewMessage
from db.tracker_scoring import score_stored
from domain.posts import SourceError
from runtime.errors import outside_failure
from runtime.event_throttle import EventThrottle
from runtime.heartbeat import heartbeating

PROGRESS_EVERY = 10  # the tracker's clients expect a progress event every 10 items
OPEN = (JobRecordStatus.pending.value, JobRecordStatus.running.value)

HistoryFactory = Callable[[str], ChatHistory]


class IngestionScope(BaseModel):
    """What the job's row asks for; read once by `begin` and carried by the workflow."""

    job_id: int
    workflow_id: str
    owner: str
    chat: str
    limit: int | None = None
    since: datetime | None = None


class Counts(BaseModel):
    """The row's counters: every message read is saved, a duplicate, or a service message (not kept)."""

    fetched: int = 0
    saved: int = 0
    skipped: int = 0  # already stored

    @property
    def service(self) -> int:
        return self.fetched - self.saved - self.skipped


class EventCursor(BaseModel):
    """Where the job's event numbering and progress throttle stand: kept in workflow state across retries."""

    next_seq: int = 1
    throttle_last: int | None = None


class BeginInput(BaseModel):
    job_id: int
    workflow_id: str
    owner: str


class Begun(BaseModel):
    scope: IngestionScope
    counts: Counts
    events: EventCursor


class PageInput(BaseModel):
    scope: IngestionScope
    before_id: int  # 0: from the newest message
    counts: Counts
    events: EventCursor


class PageOutcome(BaseModel):
    before_id: int
    done: bool
    counts: Counts
    events: EventCursor
    chat_total: int | None = None  # what Telegram says the chat holds
    scored: int = 0


class FinishInput(BaseModel):
    scope: IngestionScope
    status: JobRecordStatus
    error: str | None = None
    counts: Counts
    events: EventCursor


class Finished(BaseModel):
    status: JobRecordStatus
    counts: Counts
    events: EventCursor


def events_after(events: EventCursor, fetched: int) -> EventCursor:
    """The cursor after a page that brought `messages_fetched` to `fetched`: one number more when it said progress."""
    throttle = EventThrottle(PROGRESS_EVERY, events.throttle_last)
    if throttle.due(fetched):
        return EventCursor(next_seq=events.next_seq + 1, throttle_last=throttle.last)
    return events


def final_event(status: JobRecordStatus) -> EventName:
    """The tracker's frontend knows completed and failed only: a cancelled job ends with `ingestion.completed` whose
    data says `"status": "cancelled"`, so the counts of what was imported before the cancel still reach it."""
    return EventName.ingestion_failed if status == JobRecordStatus.failed else EventName.ingestion_completed


def counts_of(row: MessageIngestionJob) -> Counts:
    return Counts(fetched=row.messages_fetched, saved=row.messages_saved, skipped=row.messages_skipped)


def event_data(scope: IngestionScope, row: MessageIngestionJob, **extra) -> dict:
    """Ids and counts only: NOTIFY carries less than 8000 bytes, clients fetch the rest."""
    return {
        "ingestion_id": scope.job_id,
        "chat": scope.chat,
        "status": row.status,
        "messages_fetched": row.messages_fetched,
        "messages_saved": row.messages_saved,
        "messages_skipped": row.messages_skipped,
        **extra,
    }


class IngestionActivities:
    def __init__(self, sessions: SessionFactory, history: HistoryFactory) -> None:
        self._sessions = sessions
        self._history = history

    @activity.defn(name="ingestion.begin")
    async def begin(self, inp: BeginInput) -> Begun:
        async with self._sessions() as session, session.begin():
            row = await self._row(session, inp.job_id)
            scope = IngestionScope(
                job_id=row.id,
                workflow_id=inp.workflow_id,
                owner=inp.owner,
                chat=row.chat,
                limit=row.limit,
                since=row.since,
            )
            events = EventCursor(next_seq=2)  # `started` is event 1, whichever attempt said it
            if row.status == JobRecordStatus.pending.value:
                row.status, row.started_at = JobRecordStatus.running.value, utcnow()
                await session.flush()
                job_events = JobEvents(inp.workflow_id, inp.owner)
                await job_events.publish(session, EventName.ingestion_started, event_data(scope, row))
            elif row.status != JobRecordStatus.running.value:
                raise ApplicationError(f"ingestion {row.id} is already {row.status}", type="Closed", non_retryable=True)
            return Begun(scope=scope, counts=counts_of(row), events=events)

    @activity.defn(name="ingestion.ingest_page")
    async def ingest_page(self, inp: PageInput) -> PageOutcome:
        scope, counts = inp.scope, inp.counts
        want = HISTORY_CHUNK if scope.limit is None else min(HISTORY_CHUNK, scope.limit - counts.fetched)
        if want <= 0:
            return PageOutcome(before_id=inp.before_id, done=True, counts=counts, events=inp.events)
        async with heartbeating():
            page = await self._read(scope.chat, inp.before_id, want)
            kept = [m for m in page.messages if scope.since is None or m.date >= scope.since]
            # Newest first: once one message is older than `since`, all the rest are.
            past_since = len(kept) < len(page.messages)
            at_limit = scope.limit is not None and counts.fetched + len(kept) >= scope.limit
            done = page.done or past_since or at_limit
            outcome = PageOutcome(
                before_id=page.before_id, done=done, counts=counts, events=inp.events, chat_total=page.count
            )
            async with self._sessions() as session, session.begin():
                row = await self._row(session, scope.job_id, lock=True)
                if row.status != JobRecordStatus.running.value:
                    outcome.done = True  # closed meanwhile: nothing more is written for it
                elif row.messages_fetched != counts.fetched:
                    # An earlier attempt of this page committed and its answer was lost: answer what it wrote.
                    outcome.counts = counts_of(row)
                    outcome.events = events_after(inp.events, row.messages_fetched)
                else:
                    outcome.scored = await self._keep(session, row, kept)
                    outcome.counts = counts_of(row)
                    outcome.events = await self._progress(session, scope, row, inp.events)
            return outcome

    @activity.defn(name="ingestion.finish")
    async def finish(self, inp: FinishInput) -> Finished:
        scope = inp.scope
        async with self._sessions() as session, session.begin():
            row = await self._row(session, scope.job_id, lock=True)
            events = inp.events
            if row.messages_fetched != inp.counts.fetched:
                # A page committed while its step was being cancelled: its progress event took a number.
                events = events_after(events, row.messages_fetched)
            if row.status in OPEN:
                row.status, row.completed_at = inp.status.value, utcnow()
                row.started_at = row.started_at or row.completed_at
                if inp.error:
                    row.error_message = inp.error[:4000]
                    row.errors_count += 1
                await session.flush()
                name = final_event(inp.status)
                data = event_data(scope, row, error=row.error_message) if inp.error else event_data(scope, row)
                await JobEvents(scope.workflow_id, scope.owner, events.next_seq).publish(session, name, data)
            # The final event took the next number: this attempt's, or (row already closed) that of an earlier
            # attempt of this step whose answer was lost.
            events = events.model_copy(update={"next_seq": events.next_seq + 1})
            return Finished(status=JobRecordStatus(row.status), counts=counts_of(row), events=events)

    # -- steps ---------------------------------------------------------------------------------------

    async def _read(self, chat: str, before_id: int, want: int) -> HistoryPage:
        history = self._history(chat)
        try:
            return await history.page(before_id, want)
        except SourceError as exc:
            raise outside_failure(exc) from exc
        finally:
            await history.close()

    async def _keep(self, session: AsyncSession, row: MessageIngestionJob, messages: list[ChatMessage]) -> int:
        """Save the page's messages with their authors, score the new ones and count; answers how many were scored."""
        now = utcnow()
        wanted = [m for m in messages if m.service is None]
        profiles = await tracker_messages.upsert_profiles(session, [m.author for m in wanted if m.author], now)
        new = [
            NewMessage(
                chat_id=m.chat_id,
                message_id=m.id,
                text=m.text,
                sent_at=m.date,
                author_id=m.author.id if m.author else None,
            )
            for m in wanted
        ]
        inserted = await tracker_messages.insert_messages(
            session, new, {uid: pid for uid, (pid, _) in profiles.items()}, MessageSource.ingestion, now
        )
        scored = await score_stored(session, list(inserted.values()), now)
        row.messages_fetched += len(messages)
        row.messages_saved += len(inserted)
        row.messages_skipped += len(wanted) - len(inserted)
        await session.flush()
        return len(scored)

    async def _progress(
        self, session: AsyncSession, scope: IngestionScope, row: MessageIngestionJob, events: EventCursor
    ) -> EventCursor:
        after = events_after(events, row.messages_fetched)
        if after.next_seq != events.next_seq:
            job_events = JobEvents(scope.workflow_id, scope.owner, events.next_seq)
            data = event_data(scope, row, processed=row.messages_fetched, limit=scope.limit)
            await job_events.publish(session, EventName.ingestion_progress, data)
        return after

    @staticmethod
    async def _row(session: AsyncSession, job_id: int, lock: bool = False) -> MessageIngestionJob:
        row = await session.get(MessageIngestionJob, job_id, with_for_update=lock)
        if row is None:
            raise ApplicationError(f"ingestion job {job_id} does not exist", type="NotFound", non_retryable=True)
        return row
