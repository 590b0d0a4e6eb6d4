"""Job progress pushed over websockets, in whatever shape a route's clients expect (the job snapshot,
the 1C seed's task...): one poller per watched job in the ProgressHub, fanned out to every socket."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from api.auth import InvalidToken, Principal
from api.jobs import JobNotFound, Jobs, JobSnapshot
from api.progress_hub import ProgressHub, Update

log = logging.getLogger("longrun.jobs")

# How often the all-jobs stream looks for newly started jobs.
DISCOVERY_INTERVAL = 1.0

Shape = Callable[[JobSnapshot], Any]


def as_snapshot(snap: JobSnapshot) -> Any:
    return snap.model_dump(mode="json")


async def until_gone(ws: WebSocket, send: Callable[[], Awaitable[None]]) -> None:
    """Run `send` (a socket's pushing loop) until it ends or the socket goes away. The client leaving, and the
    server's own shutdown (uvicorn closes every socket), reach a socket only through a receive: a loop that only
    sends would wait for its next message, and hold the API's shutdown up until it was killed."""
    sending = asyncio.create_task(send())
    gone = asyncio.create_task(_until_disconnect(ws))
    done, pending = await asyncio.wait({sending, gone}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
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
    except ValueError:
        return message
    if isinstance(parsed, dict):
        return str(parsed.get("token") or "")
    return parsed if isinstance(parsed, str) else ""


async def accept_user(ws: WebSocket) -> Principal | None:
    """Accept the socket and say who is on it, or close it (4401) and answer None.

    The token comes as `?token=` or as the first message (`{"token": ...}` or the bare token)."""
    await ws.accept()
    token = ws.query_params.get("token")
    if not token:
        with suppress(asyncio.TimeoutError, WebSocketDisconnect):
            token = first_message_token(await asyncio.wait_for(ws.receive_text(), timeout=10))
    try:
        return ws.app.state.tokens.decode(token or "")
    except InvalidToken:
        await ws.close(code=4401, reason="authentication failed")
        return None


async def stream_job(ws: WebSocket, job_id: str, shape: Shape = as_snapshot) -> None:
    """Every change of one job until it ends, then the socket closes."""
    who = await accept_user(ws)
    if who is None:
        return
    jobs: Jobs = ws.app.state.jobs
    try:
        await jobs.snapshot(job_id, who)
    except JobNotFound:
        await ws.close(code=4404, reason=f"job {job_id!r} not found")
        return
    hub: ProgressHub = ws.app.state.hub
    queue: asyncio.Queue[Update] = asyncio.Queue()
    hub.watch(job_id, queue)

    async def send() -> None:
        while True:
            _, snap = await queue.get()
            await ws.send_json(shape(snap))
            if snap.closed:
                await ws.close()
                return

    try:
        await until_gone(ws, send)
    finally:
        hub.unwatch(job_id, queue)


async def stream_jobs(ws: WebSocket, shape: Shape = as_snapshot, job_type: str | None = None) -> None:
    """Every job the caller may see (of `job_type`, if given): running ones as they change, each once more
    when it ends."""
    who = await accept_user(ws)
    if who is None:
        return
    jobs: Jobs = ws.app.state.jobs
    hub: ProgressHub = ws.app.state.hub
    queue: asyncio.Queue[Update] = asyncio.Queue()
    watched: set[str] = set()

    connected_at = datetime.now(UTC)

    async def discover() -> None:
        while True:
            try:
                listed = await jobs.list(who, job_type, None, 200)
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
            await ws.send_json(shape(snap))
            if snap.closed and job_id in watched:
                hub.unwatch(job_id, queue)

    finder = asyncio.create_task(discover())
    try:
        await until_gone(ws, send)
    finally:
        finder.cancel()
        for job_id in watched:
            hub.unwatch(job_id, queue)
