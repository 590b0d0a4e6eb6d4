"""Job notices in Telegram: a linked user's long jobs report their progress and their end from the bot.

Two loops in every API process, apart from every job: the watcher reads linked users' jobs (visibility, then each
one's progress query, which adds nothing to its history) and puts what is due in the outbox (Postgres); the sender
sends what the outbox holds through the Bot API, one message at a time with its own timeout. Nothing a job does waits
on either, and a Bot API that is slow or down slows or stops only the sender: notices wait, then are dropped
(`LONGRUN_JOB_NOTICE_MAX_AGE_SECONDS`). Several API processes may watch and send at once: a run's notice state is
read and written under its row lock, and the outbox hands each message to one sender.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker

from api.jobs import JobNotFound, Jobs, JobSnapshot, quote, services_clause
from api.temporal import TemporalGateway
from clients.telegram_bot import BotApiError, TelegramBotClient, bot_http
from db import telegram_outbox
from db.models import JobNotice
from db.telegram_links import linked_users
from domain.job_notices import Language, end_text, heading, language_of, progress_due, progress_text
from runtime.queues import deployment_queues
from settings import Settings
from workflows.base import JOB_OWNER, TERMINAL, JobStatus

log = logging.getLogger("longrun.job_notices")

# Jobs one look reads at most (the newest first).
WATCH_LIMIT = 500
# A job closed within this long is still looked at for its end notice (a few missed looks: an API restart).
CLOSED_WINDOW = timedelta(minutes=10)
# Messages one send round takes.
SEND_BATCH = 20
# Notice state of runs that ended this long ago is forgotten.
FORGET_AFTER = timedelta(days=7)


class JobNotifier:
    def __init__(self, settings: Settings, sessions: async_sessionmaker, temporal: TemporalGateway, jobs: Jobs) -> None:
        self._settings = settings
        self._sessions = sessions
        self._temporal = temporal
        self._jobs = jobs
        self._http = bot_http(settings)
        self._bot = TelegramBotClient.from_settings(settings, self._http)
        self._tasks: list[asyncio.Task] = []
        self._username: str | None = settings.telegram_bot_username.lstrip("@") or None

    def start(self) -> None:
        if self._bot.configured:
            self._tasks = [
                asyncio.create_task(self._every(self.watch_once, "watching jobs")),
                asyncio.create_task(self._every(self.send_once, "sending notices")),
            ]

    async def bot_username(self) -> str | None:
        """The bot's @username (settings, else getMe once); None while the Bot API cannot say."""
        if self._username is None and self._bot.configured:
            try:
                me = await asyncio.wait_for(self._bot.call("getMe"), self._settings.job_notice_send_timeout_seconds)
            except (BotApiError, TimeoutError) as exc:
                log.warning("job notices: the bot's username is unknown: %s", exc)
                return None
            username = me.get("username") if isinstance(me, dict) else None
            self._username = username if isinstance(username, str) and username else None
        return self._username

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.aclose()

    async def _every(self, step: Callable[[], Awaitable[None]], what: str) -> None:
        while True:
            try:
                await step()
            except Exception as exc:  # Temporal or the database away: the next round tries again
                log.warning("job notices: %s failed: %s", what, exc)
            await asyncio.sleep(self._settings.job_notice_poll_seconds)

    # ------------------------------------------------------------------------------------------ watcher

    async def watch_once(self) -> None:
        async with self._sessions() as session:
            linked = await linked_users(session)
        if not linked:
            return
        client = await self._temporal.client()
        since = (datetime.now(UTC) - CLOSED_WINDOW).isoformat()
        owners = ", ".join(quote(name) for name in sorted(linked))
        # This deployment's jobs, on whichever of its queues they run (runtime/queues.py).
        queues = ", ".join(quote(queue) for queue in deployment_queues(self._settings.task_queue))
        query = (
            f"JobOwner IN ({owners}) AND TaskQueue IN ({queues}) AND {services_clause()} "
            f"AND (ExecutionStatus = 'Running' OR CloseTime > {quote(since)})"
        )
        seen: set[str] = set()
        async for execution in client.list_workflows(query, limit=WATCH_LIMIT):
            if execution.id in seen:  # an older run of a reused id: its snapshot would be the newer run's
                continue
            seen.add(execution.id)
            chat_id, language = linked.get(execution.typed_search_attributes.get(JOB_OWNER) or "", (None, None))
            if chat_id is None:
                continue
            try:
                snap = await self._jobs.snapshot(execution.id, None)
            except JobNotFound:
                continue
            # Keyed by the chain's first run: a job that continues as new keeps its notices' state.
            run_key = execution.raw_info.first_run_id or execution.run_id
            lang = language_of(language, self._settings.job_notice_language)
            await self._consider(snap, run_key, chat_id, lang)
        await self._forget_old()

    async def _consider(self, snap: JobSnapshot, run_key: str, chat_id: int, language: Language) -> None:
        now = datetime.now(UTC)
        if snap.started_at is None:
            return
        settings = self._settings
        closed = snap.status in TERMINAL
        ran = ((snap.updated_at if closed and snap.updated_at else now) - snap.started_at).total_seconds()
        if ran < settings.job_notice_min_seconds:
            return
        async with self._sessions() as session:
            await session.execute(
                insert(JobNotice)
                .values(job_id=snap.job_id, run_id=run_key, chat_id=chat_id, last_processed=0, last_at=now, ended=False)
                .on_conflict_do_nothing()
            )
            state = await session.scalar(
                select(JobNotice).where(JobNotice.job_id == snap.job_id, JobNotice.run_id == run_key).with_for_update()
            )
            assert state is not None
            job = heading(snap.type, snap.job_id)
            if closed and not state.ended:
                counts = {n: getattr(snap, n) for n in ("processed", "succeeded", "skipped", "failed")}
                text = end_text(language, job, JobStatus(snap.status).value, counts, snap.message)
                await telegram_outbox.enqueue(session, chat_id, text, "end", snap.job_id)
                state.ended, state.last_at = True, now
            elif not closed and progress_due(
                snap.processed,
                state.last_processed,
                (now - state.last_at).total_seconds(),
                settings.job_notice_every_items,
                settings.job_notice_every_seconds,
            ):
                text = progress_text(language, job, snap.processed, snap.total, snap.percent, snap.eta_seconds)
                await telegram_outbox.enqueue(session, chat_id, text, "progress", snap.job_id)
                state.last_processed, state.last_at = snap.processed, now
            await session.commit()

    async def _forget_old(self) -> None:
        async with self._sessions() as session:
            before = datetime.now(UTC) - FORGET_AFTER
            await session.execute(delete(JobNotice).where(JobNotice.ended, JobNotice.last_at < before))
            await session.commit()

    # ------------------------------------------------------------------------------------------ sender

    async def send_once(self) -> None:
        timeout = self._settings.job_notice_send_timeout_seconds
        async with self._sessions() as session:
            batch = await telegram_outbox.take(
                session,
                SEND_BATCH,
                hold=timedelta(seconds=timeout * 2),
                max_age=timedelta(seconds=self._settings.job_notice_max_age_seconds),
            )
        for notice in batch:
            try:
                await asyncio.wait_for(self._bot.send_message(notice.chat_id, notice.text), timeout)
            except BotApiError as exc:
                async with self._sessions() as session:
                    await telegram_outbox.failed(session, notice.id, str(exc), exc.permanent)
            except TimeoutError:
                async with self._sessions() as session:
                    await telegram_outbox.failed(session, notice.id, f"no answer in {timeout:g} s", False)
            else:
                async with self._sessions() as session:
                    await telegram_outbox.sent(session, notice.id)
