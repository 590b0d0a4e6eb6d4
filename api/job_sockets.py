"""Job progress pushed over websockets, in whatever shape a route's clients expect (the job snapshot,
the 1C front end's task...): one poller per watched job in the ProgressHub, fanned out to every socket.

Every socket is bounded: its messages by LONGRUN_WEBSOCKET_MAX_MESSAGE_BYTES (uvicorn: `python -m api`), its token
must come within LONGRUN_WEBSOCKET_AUTH_SECONDS while at most LONGRUN_WEBSOCKETS_PENDING_AUTH sockets wait for
theirs in a process (1013 beyond), a user has at most
LONGRUN_WEBSOCKETS_PER_USER open in a process (1008 beyond), its pushes wait in an `Outbox` of
LONGRUN_WEBSOCKET_SEND_QUEUE (1013 when a client stops reading), and the all-jobs streams of one user share one
Temporal listing per interval however many they open.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from api.auth import InvalidToken, Principal
from api.deps import as_now
from api.jobs import JobNotFound, Jobs, JobSnapshot, JobSummary, may_see
from api.progress_hub import Outbox, ProgressHub

log = logging.getLogger("longrun.jobs")

# How often the all-jobs stream looks for newly started jobs.
DISCOVERY_INTERVAL = 1.0
# How long a socket closed for overflow may take to take its close frame before it is dropped anyway.
CLOSE_TIMEOUT = 2.0

Shape = Callable[[JobSnapshot], Any]


class SocketSlots:
    """How many sockets each user has open in this process, and how many they may."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: dict[int, int] = {}

    def take(self, user_id: int) -> bool:
        if self._open.get(user_id, 0) >= self.per_user:
            return False
        self._open[user_id] = self._open.get(user_id, 0) + 1
        return True

    def give_back(self, user_id: int) -> None:
        left = self._open.get(user_id, 0) - 1
        if left > 0:
            self._open[user_id] = left
        else:
            self._open.pop(user_id, None)


class PendingAuth:
    """How many sockets of this process are accepted and still waiting for their token, and how many may: such a
    socket is nobody's yet, so the per-user cap cannot hold it, and each costs a task and a deadline."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.waiting = 0

    @classmethod
    def of(cls, ws: WebSocket) -> "PendingAuth":
        """The app's one (made on first use: it is sized by the app's settings)."""
        state = ws.app.state
        pending = getattr(state, "pending_auth", None)
        if pending is None:
            pending = state.pending_auth = cls(state.settings.websockets_pending_auth)
        return pending

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[bool]:
        """True while holding one of the slots; False (nothing held) when all are taken."""
        if self.waiting >= self.limit:
            yield False
            return
        self.waiting += 1
        try:
            yield True
        finally:
            self.waiting -= 1


class SharedListings:
    """The running jobs a caller may see, listed from Temporal at most once per interval per (user, role, type):
    every all-jobs socket of one user awaits the same listing, so their count does not multiply Temporal's load."""

    def __init__(self, jobs: Jobs, interval: float = DISCOVERY_INTERVAL) -> None:
        self._jobs = jobs
        self._interval = interval
        self._latest: dict[tuple[str, str, str | None], tuple[float, asyncio.Future[list[JobSummary]]]] = {}

    async def list(self, who: Principal, job_type: str | None) -> list[JobSummary]:
        key = (who.username, who.role.value, job_type)
        now = time.monotonic()
        latest = self._latest.get(key)
        if latest is None or latest[0] + self._interval <= now:
            self._forget_older_than(now - 10 * self._interval)
            latest = self._latest[key] = (now, asyncio.ensure_future(self._jobs.list(who, job_type, None, 200)))
        # Shielded: one socket going away must not cancel the listing the others await.
        return await asyncio.shield(latest[1])

    def _forget_older_than(self, moment: float) -> None:
        for key, (at, future) in list(self._latest.items()):
            if at < moment and future.done():
                if not future.cancelled():
                    future.exception()  # retrieved: an error nobody awaited any more is not "never retrieved"
                del self._latest[key]


def as_snapshot(snap: JobSnapshot) -> Any:
    return snap.model_dump(mode="json")


async def until_gone(
    ws: WebSocket, send: Callable[[], Coroutine[Any, Any, None]], overflow: asyncio.Event | None = None
) -> None:
    """Run `send` (a socket's pushing loop) until it ends or the socket goes away. The client leaving, and the
    server's own shutdown (uvicorn closes every socket), reach a socket only through a receive: a loop that only
    sends would wait for its next message, and hold the API's shutdown up until it was killed. When `overflow` is
    set, the client has stopped reading: the socket is closed 1013 even though `send` is stuck writing to it."""
    sending = asyncio.create_task(send())
    gone = asyncio.create_task(_until_disconnect(ws))
    waiting: set[asyncio.Task[Any]] = {sending, gone}
    stalled = asyncio.create_task(overflow.wait()) if overflow is not None else None
    if stalled is not None:
        waiting.add(stalled)
    done, pending = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if stalled is not None and stalled in done:
        with suppress(Exception):
            await asyncio.wait_for(ws.close(code=1013, reason="too slow to take the updates; reconnect"), CLOSE_TIMEOUT)
        return
    for task in done:
        if (exc := task.exception()) is not None and not isinstance(exc, WebSocketDisconnect):
            raise exc


async def _until_disconnect(ws: WebSocket) -> None:
    """What a client sends after it signed in means nothing: read until the socket closes."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


def first_message_token(message: str) -> str:
    """`{"token": "..."}` or the bare token."""
    try:
        parsed = json.loads(message)
    except (ValueError, RecursionError):
        return message
    if isinstance(parsed, dict):
        return str(parsed.get("token") or "")
    return parsed if isinstance(parsed, str) else ""


async def accept_user(ws: WebSocket) -> Principal | None:
    """Accept the socket and say who is on it (with their role now), or close it (4401; 1013 when too many sockets
    already wait for their token) and answer None.

    The token comes as the first message (`{"token": ...}` or the bare token), within the auth deadline; `?token=`
    is still taken from older clients (the server's log lines redact it: log_setup.py)."""
    await ws.accept()
    settings = ws.app.state.settings
    token = ws.query_params.get("token")
    if not token:
        async with PendingAuth.of(ws).slot() as waiting:
            if not waiting:
                await ws.close(code=1013, reason="too many sockets waiting to sign in; try again")
                return None
            with suppress(asyncio.TimeoutError, WebSocketDisconnect, KeyError):
                # KeyError: a binary first message has no text.
                first = await asyncio.wait_for(ws.receive_text(), settings.websocket_auth_seconds)
                token = first_message_token(first)
    try:
        return await as_now(ws.app.state.tokens.decode(token or ""), ws.app.state.user_states)
    except InvalidToken:
        await ws.close(code=4401, reason="authentication failed")
        return None


@asynccontextmanager
async def signed_in(ws: WebSocket) -> AsyncIterator[Principal | None]:
    """`accept_user`, holding one of the user's socket slots for as long as the socket is open (None: closed)."""
    who = await accept_user(ws)
    if who is None:
        yield None
        return
    slots: SocketSlots = ws.app.state.socket_slots
    if not slots.take(who.id):
        await ws.close(code=1008, reason=f"too many sockets open for this user (at most {slots.per_user})")
        yield None
        return
    try:
        yield who
    finally:
        slots.give_back(who.id)


def outbox(ws: WebSocket) -> Outbox:
    return Outbox(ws.app.state.settings.websocket_send_queue)


async def stream_job(ws: WebSocket, job_id: str, shape: Shape = as_snapshot) -> None:
    """Every change of one job until it ends, then the socket closes."""
    async with signed_in(ws) as who:
        if who is not None:
            await _stream_job(ws, who, job_id, shape)


async def _stream_job(ws: WebSocket, who: Principal, job_id: str, shape: Shape) -> None:
    jobs: Jobs = ws.app.state.jobs
    try:
        await jobs.snapshot(job_id, who)
    except JobNotFound:
        await ws.close(code=4404, reason=f"job {job_id!r} not found")
        return
    hub: ProgressHub = ws.app.state.hub
    queue = outbox(ws)
    hub.watch(job_id, queue)

    async def send() -> None:
        while True:
            _, snap = await queue.get()
            if not may_see(snap.owner, who):
                # The id now names someone else's run (ids with a natural key are reused): not this caller's job.
                await ws.close(code=4404, reason=f"job {job_id!r} not found")
                return
            await ws.send_json(shape(snap))
            if snap.closed:
                await ws.close()
                return

    try:
        await until_gone(ws, send, queue.overflowed)
    finally:
        hub.unwatch(job_id, queue)


async def stream_jobs(ws: WebSocket, shape: Shape = as_snapshot, job_type: str | None = None) -> None:
    """Every job the caller may see (of `job_type`, if given): running ones as they change, each once more
    when it ends."""
    async with signed_in(ws) as who:
        if who is not None:
            await _stream_jobs(ws, who, shape, job_type)


async def _stream_jobs(ws: WebSocket, who: Principal, shape: Shape, job_type: str | None) -> None:
    listings: SharedListings = ws.app.state.job_listings
    hub: ProgressHub = ws.app.state.hub
    queue = outbox(ws)
    watched: set[str] = set()

    connected_at = datetime.now(UTC)

    async def discover() -> None:
        while True:
            try:
                listed = await listings.list(who, job_type)
            except Exception as exc:  # Temporal restarting: the socket stays, the next sweep retries.
                log.warning("listing jobs for %s's socket failed: %r", who.username, exc)
                listed = []
            for job in listed:
                # Running jobs, and jobs started since the socket opened even if they already
                # ended between two sweeps: their final snapshot is still worth a message.
                fresh = job.started_at is not None and job.started_at >= connected_at
                if (job.closed_at is None or fresh) and job.job_id not in watched:
                    watched.add(job.job_id)
                    hub.watch(job.job_id, queue)
            await asyncio.sleep(DISCOVERY_INTERVAL)

    async def send() -> None:
        while True:
            job_id, snap = await queue.get()
            if not may_see(snap.owner, who):  # a later run under a watched id, started by someone else
                hub.unwatch(job_id, queue)
                watched.discard(job_id)
                continue
            await ws.send_json(shape(snap))
            if snap.closed and job_id in watched:
                hub.unwatch(job_id, queue)

    finder = asyncio.create_task(discover())
    try:
        await until_gone(ws, send, queue.overflowed)
    finally:
        finder.cancel()
        for job_id in watched:
            hub.unwatch(job_id, queue)
