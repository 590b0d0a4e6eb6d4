"""One dedicated Postgres connection per API process that LISTENs for workers' events (db/events.py).

Not a pooled connection: LISTEN belongs to a session, and a pool hands sessions around. When the connection is
lost (Postgres restarts, a network cut, an admin's ``pg_terminate_backend``) the listener reconnects with growing
pauses and, once listening again, tells every subscriber ``stream.resumed``: NOTIFY keeps nothing for a session
that was away, so a client that cares re-reads what it shows. A ping every few seconds finds a connection that
died without a word.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable

import asyncpg
from sqlalchemy.engine import make_url

from api.event_hub import Event
from db.events import CHANNEL

log = logging.getLogger("longrun.events")

APPLICATION_NAME = "longrun-events"
BACKOFF_START = 0.1
BACKOFF_MAX = 5.0
PING_INTERVAL = 5.0
CONNECT_TIMEOUT = 10  # seconds; asyncpg.connect annotates its timeout as an int
_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The libpq-style URL asyncpg takes, from the SQLAlchemy one (``postgresql+asyncpg://...``)."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class EventListener:
    def __init__(
        self,
        database_url: str,
        on_event: Callable[[Event], None],
        on_resumed: Callable[[], None],
        *,
        ping_interval: float = PING_INTERVAL,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._on_event = on_event
        self._on_resumed = on_resumed
        self._ping_interval = ping_interval
        self._task: asyncio.Task | None = None
        self.listening = False
        self.connections = 0  # how many times it has started listening: 1 + reconnections

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="event-listener")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = BACKOFF_START
        missed = False  # whether subscribers may have missed events: tell them once listening again
        while True:
            try:
                conn = await asyncpg.connect(
                    self._dsn,
                    timeout=CONNECT_TIMEOUT,
                    server_settings={"application_name": f"{APPLICATION_NAME}-{os.getpid()}"},
                )
            except _CONNECTION_ERRORS as exc:
                log.warning("event listener: cannot connect (%r); trying again in %.1fs", exc, delay)
                missed = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            try:
                await self._listen(conn, missed)
            except _CONNECTION_ERRORS as exc:
                log.warning("event listener: connection lost (%r)", exc)
            finally:
                self.listening = False
                conn.terminate()
            missed, delay = True, BACKOFF_START  # it was listening: try again at once, then back off
            await asyncio.sleep(delay)

    async def _listen(self, conn: asyncpg.Connection, missed: bool) -> None:
        """Listen until the connection is gone (returns, or raises what showed it)."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self.listening = True
        self.connections += 1
        log.info("event listener: listening on %s", CHANNEL)
        if missed:
            self._on_resumed()
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), self._ping_interval)
            except TimeoutError:
                await asyncio.wait_for(conn.fetchval("select 1"), self._ping_interval)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = Event.parse(payload)
        except ValueError as exc:
            log.warning("event listener: dropped a payload that is no event (%s): %.200s", exc, payload)
            return
        try:
            self._on_event(event)
        except Exception:  # one bad event must not end the listener every socket depends on
            log.exception("event listener: dispatching %s failed", event.type)
