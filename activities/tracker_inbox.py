"""The webhook chain's steps for the inbox drainer (workflows/tracker_inbox.py): take a batch of stored updates,
save their messages and profiles, score them and announce both, all in one transaction; then the steps that follow
a batch (avatars, extraction triggers) and the sweeps that find what a lost answer left behind.

One transaction per batch is what makes the chain exactly-once without a workflow per update: an update is marked
saved in the transaction that saves and scores its message, so a retry of a batch whose transaction committed
finds nothing left to take, and one whose transaction rolled back takes the same updates again.

An update that can never be saved (its payload no longer parses, a value the database refuses) would fail its batch
on every retry and hold the whole inbox behind it. So a batch that fails with bad data is saved again one update at
a time, each in a savepoint: the one that fails is set aside (`telegram_update.error`, logged), the rest are saved.
Bad data is only what an update's content raises (`POISON`); anything else (the database away, a bug raising a
TypeError) fails the take, to be retried. A batch whose every update fails alike is a bug too (a model that refuses
every payload), not a batch of poison: its take is retried, and its updates are set aside only once a good one shares
the take or the take has failed `POISON_ATTEMPTS` times (~3 s): a lone bad update must not hold the inbox forever.
"""

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.tracker_avatars import AvatarCache
from db import tracker_inbox, tracker_messages
from db.base import utcnow
from db.events import EventName, publish_many
from db.models.tracker import TelegramUpdate
from db.session import SessionFactory, autocommit
from db.tracker_messages import SavedBatch
from db.tracker_scoring import score_stored

log = logging.getLogger(__name__)

# Starts a chat's extraction, or tells the running one there is more: signal-with-start.
TriggerExtraction = Callable[[int], Awaitable[str]]
# Starts the drainer unless it runs; answers its run id (the running one's, or the new one's).
EnsureDrainer = Callable[[], Awaitable[str]]

# What one update's content can raise on every attempt alike: a payload that does not parse, a date or number past
# what Python or Postgres holds. Not ValueError or TypeError at large: a bug raises those, and must not set aside
# every update it meets (ValidationError is a ValueError, so it is named rather than its base).
POISON = (ValidationError, OverflowError, DataError)
# Attempts of a take whose every update fails before they are set aside all the same (TAKE_RETRY: 0.2 s doubling).
POISON_ATTEMPTS = 5


class ExtractionTrigger(BaseModel):
    threshold: int = 10
    window_hours: float = 24.0


class TakeInput(BaseModel):
    batch: int = Field(default=200, ge=1, le=1000)
    # With nothing waiting, how long to wait for an update before answering "none".
    wait_seconds: float = Field(default=60.0, ge=0)
    # With fewer than a batch waiting, how long to let more gather before taking them. Each take costs the same
    # Temporal round trips and the same dozen statements whatever its size: under a steady stream, takes of a few
    # updates each cost several times the CPU of takes of a few dozen, and that CPU is the webhook's too.
    gather_seconds: float = Field(default=0.1, ge=0, le=5)


class TakeOutcome(BaseModel):
    updates: int = 0
    # Messages saved or changed by an edit (an update may carry none: a callback, an edit older than the text kept...).
    messages: int = 0
    # Of those, the messages an edit changed.
    edited: int = 0
    scored: int = 0
    # How many of the scored fell in each class.
    classes: dict[str, int] = {}
    ready_chats: list[int] = []
    avatar_profiles: list[int] = []
    # Updates that could not be saved and were set aside (each logged, its error in telegram_update.error).
    set_aside: int = 0


class ChatsInput(BaseModel):
    chat_ids: list[int]


class ScoreUnscoredInput(BaseModel):
    batch: int = Field(default=500, ge=1, le=5000)


class ScoreUnscoredOutcome(BaseModel):
    # Messages this batch scored; 0 when none was left.
    scored: int = 0
    classes: dict[str, int] = {}
    ready_chats: list[int] = []


class ReconcileInboxInput(BaseModel):
    """Nothing to choose: what the sweep does follows from the database. (Earlier runs passed a grace period.)"""


class ReconcileInboxResult(BaseModel):
    drainer_run: str = ""
    chats_triggered: list[int] = []


class InboxActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        avatars: AvatarCache,
        trigger: ExtractionTrigger,
        trigger_extraction: TriggerExtraction,
        ensure_drainer: EnsureDrainer,
        listen_sessions: SessionFactory | None = None,
    ) -> None:
        self._sessions = sessions
        # Where the drainer LISTENs: Postgres itself even when `sessions` go through a transaction pooler, which
        # would drop the LISTEN between statements (docs/production.md, PgBouncer).
        self._listen_sessions = listen_sessions or sessions
        self._avatars = avatars
        self._trigger = trigger
        self._trigger_extraction = trigger_extraction
        self._ensure_drainer = ensure_drainer

    @activity.defn(name="tracker.take_updates")
    async def take_updates(self, inp: TakeInput) -> TakeOutcome:
        waiting = await self._waiting(inp.batch)
        if waiting == 0 and not await self._wait_for_updates(inp.wait_seconds):
            return TakeOutcome()
        if waiting < inp.batch and inp.gather_seconds:
            await asyncio.sleep(inp.gather_seconds)
        return await self._take(inp.batch) or TakeOutcome()

    async def _waiting(self, limit: int) -> int:
        async with self._sessions() as session:
            return await tracker_inbox.waiting(session, limit)

    async def _take(self, limit: int) -> TakeOutcome | None:
        now = utcnow()
        async with self._sessions() as session:
            locked = await tracker_inbox.take(session, limit)
            if not locked:
                return None
            # Plain copies: a savepoint rolled back may expire the session's rows, and an expired row cannot load
            # itself again here (no implicit IO under asyncio).
            stored = [TelegramUpdate(update_id=u.update_id, payload=u.payload) for u in locked]
            set_aside = 0
            try:
                async with session.begin_nested():
                    saved = await tracker_messages.save_updates(session, stored, now)
            except POISON:
                saved, set_aside = await self._save_one_by_one(session, stored, now)
            await publish_many(
                session, [(EventName.message_updated, _updated(saved, i)) for i in saved.message_ids], owner=None
            )
            scored = await score_stored(session, saved.message_ids, now)
            ready = await self._ready(session, sorted(set(saved.chat_of.values())))
            await session.commit()
        return TakeOutcome(
            updates=saved.updates,
            messages=len(saved.message_ids),
            edited=len(saved.edited),
            scored=len(scored),
            classes=_classes(scored),
            ready_chats=ready,
            avatar_profiles=saved.avatar_profiles if self._avatars.configured else [],
            set_aside=set_aside,
        )

    async def _save_one_by_one(
        self, session: AsyncSession, stored: list[TelegramUpdate], now
    ) -> tuple[SavedBatch, int]:
        """The batch again, each update in its own savepoint: those that fail with bad data are set aside, unless
        every one fails (then the first failure is raised: the take rolls back and is retried)."""
        batch = SavedBatch(updates=len(stored))
        failed: list[tuple[int, Exception]] = []
        for update in stored:
            try:
                async with session.begin_nested():
                    one = await tracker_messages.save_updates(session, [update], now)
            except POISON as exc:
                failed.append((update.update_id, exc))
                continue
            batch.chat_of.update(one.chat_of)
            batch.edited.update(one.edited)
            batch.avatar_profiles = sorted({*batch.avatar_profiles, *one.avatar_profiles})
        if len(failed) == len(stored) and _attempt() < POISON_ATTEMPTS:
            log.warning("every update of a take of %d failed: retried as a fault, none set aside", len(stored))
            raise failed[0][1]
        for update_id, exc in failed:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("inbox update %s cannot be saved, set aside: %s", update_id, error.splitlines()[0][:300])
            await tracker_inbox.set_aside(session, update_id, error, now)
        batch.message_ids = sorted(batch.chat_of)
        return batch, len(failed)

    async def _ready(self, session, chat_ids: list[int] | None) -> list[int]:
        since = utcnow() - timedelta(hours=self._trigger.window_hours)
        return await tracker_messages.chats_ready(session, chat_ids, self._trigger.threshold, since)

    async def _wait_for_updates(self, seconds: float) -> bool:
        """Wait (LISTENing) until an update is stored or `seconds` pass; True when one waits.

        The check follows the LISTEN, so an update stored between the empty take and the LISTEN is not missed, and
        is made again every `WAKE_RECHECK_SECONDS` for an update whose webhook skipped the wake-up.

        A worker told to stop (SIGTERM) ends the wait at once, as an empty take: the drainer's next take goes to a
        worker that stays, instead of this one holding its exit for the whole graceful-shutdown timeout."""
        if seconds <= 0:
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        woke = asyncio.Event()

        def notified(*_) -> None:
            woke.set()

        stopping = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        stopping.add_done_callback(lambda _: woke.set())
        async with autocommit(self._listen_sessions) as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None  # an open connection from the pool has its asyncpg connection
            await raw.add_listener(tracker_inbox.INBOX_CHANNEL, notified)
            try:
                while True:
                    woke.clear()
                    if await tracker_inbox.waiting(conn, 1):
                        return True
                    left = deadline - loop.time()
                    if left <= 0 or activity.is_worker_shutdown():
                        return False
                    try:
                        await asyncio.wait_for(woke.wait(), min(left, tracker_inbox.WAKE_RECHECK_SECONDS))
                    except TimeoutError:
                        pass
                    activity.heartbeat()
            finally:
                stopping.cancel()
                # The connection goes back to the pool: it must not go on listening for someone else.
                await raw.remove_listener(tracker_inbox.INBOX_CHANNEL, notified)

    @activity.defn(name="tracker.trigger_extractions")
    async def trigger_extractions(self, inp: ChatsInput) -> list[str]:
        return [await self._trigger_extraction(chat_id) for chat_id in inp.chat_ids]

    @activity.defn(name="tracker.score_unscored")
    async def score_unscored(self, inp: ScoreUnscoredInput) -> ScoreUnscoredOutcome:
        """One batch of ScoreUnscoredMessages: the oldest messages with no score."""
        now = utcnow()
        async with self._sessions() as session:
            ids = await tracker_messages.unscored_ids(session, inp.batch)
            scored = await score_stored(session, ids, now)
            ready = await self._ready(session, sorted({s.chat_id for s in scored}))
            await session.commit()
        return ScoreUnscoredOutcome(scored=len(scored), classes=_classes(scored), ready_chats=ready)

    @activity.defn(name="tracker.reconcile_inbox")
    async def reconcile_inbox(self, inp: ReconcileInboxInput) -> ReconcileInboxResult:
        """The schedule's safety net: the drainer runs, and a chat whose trigger was lost (its batch's answer never
        reached the drainer) gets its extraction."""
        drainer_run = await self._ensure_drainer()
        async with self._sessions() as session:
            ready = await self._ready(session, None)
        for chat_id in ready:
            activity.heartbeat(chat_id)
            await self._trigger_extraction(chat_id)
        return ReconcileInboxResult(drainer_run=drainer_run, chats_triggered=ready)


def _updated(saved: SavedBatch, message_id: int) -> dict:
    """`message.updated`: a message saved, or (with `edited_at`) changed by an edit."""
    data: dict[str, int | str] = {"message_id": message_id, "chat_id": saved.chat_of[message_id]}
    if message_id in saved.edited:
        data["edited_at"] = saved.edited[message_id].isoformat()
    return data


def _classes(scored) -> dict[str, int]:
    return dict(Counter(s.noise_class for s in scored))


def _attempt() -> int:
    return activity.info().attempt if activity.in_activity() else 1
