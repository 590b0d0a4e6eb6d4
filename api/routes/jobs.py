"""The jobs API: every long operation's progress, listing, cancel and clean-up, plus websocket pushes."""

import asyncio
import json
import logging
from contextlib import suppress
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel, Field

from api.auth import InvalidToken, Principal
from api.deps import AdminOnly, CurrentUser, JobsDep
from api.jobs import JobClosed, JobNotFound, Jobs, JobSnapshot, JobSummary
from api.progress_hub import ProgressHub, Update
from workflows.base import JobStatus

router = APIRouter(prefix="/api/v1", tags=["jobs"])
log = logging.getLogger("longrun.jobs")

# How often the all-jobs stream looks for newly started jobs.
DISCOVERY_INTERVAL = 1.0


def not_found(job_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found")


class JobList(BaseModel):
    jobs: list[JobSummary]


class CancelBody(BaseModel):
    reason: str = Field("", max_length=1000)


class CancelAccepted(BaseModel):
    job_id: str
    status: JobStatus


class Cleaned(BaseModel):
    deleted: int


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, who: CurrentUser, jobs: JobsDep) -> JobSnapshot:
    try:
        return await jobs.snapshot(job_id, who)
    except JobNotFound as exc:
        raise not_found(job_id) from exc


@router.get("/jobs")
async def list_jobs(
    who: CurrentUser,
    jobs: JobsDep,
    type: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9_]+$")] = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JobList:
    return JobList(jobs=await jobs.list(who, type, status, limit))


@router.post("/jobs/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_job(
    job_id: str, who: CurrentUser, jobs: JobsDep, body: CancelBody | None = None, force: bool = False
) -> CancelAccepted:
    if force and not who.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "force=true (Temporal's own cancel) is for admins")
    try:
        await jobs.cancel(job_id, who, body.reason if body else "", force)
    except JobNotFound as exc:
        raise not_found(job_id) from exc
    except JobClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id!r} has already finished") from exc
    return CancelAccepted(job_id=job_id, status=JobStatus.cancelling)


@router.post("/jobs/cleanup")
async def cleanup_jobs(_: AdminOnly, jobs: JobsDep, max_age_hours: Annotated[float, Query(ge=0)] = 24) -> Cleaned:
    return Cleaned(deleted=await jobs.cleanup(max_age_hours))


def first_message_token(message: str) -> str:
    """`{"token": "..."}` or the bare token."""
    try:
        parsed = json.loads(message)
    except ValueError:
        return message
    if isinstance(parsed, dict):
        return str(parsed.get("token") or "")
    return parsed if isinstance(parsed, str) else ""


async def websocket_user(ws: WebSocket) -> Principal | None:
    """The token comes as `?token=` or as the first message (`{"token": ...}` or the bare token)."""
    token = ws.query_params.get("token")
    if not token:
        with suppress(asyncio.TimeoutError, WebSocketDisconnect):
            token = first_message_token(await asyncio.wait_for(ws.receive_text(), timeout=10))
    try:
        return ws.app.state.tokens.decode(token or "")
    except InvalidToken:
        await ws.close(code=4401, reason="authentication failed")
        return None


@router.websocket("/ws/jobs/{job_id}")
async def watch_job(ws: WebSocket, job_id: str) -> None:
    await ws.accept()
    who = await websocket_user(ws)
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
    try:
        while True:
            _, snap = await queue.get()
            await ws.send_json(snap.model_dump(mode="json"))
            if snap.closed:
                await ws.close()
                return
    except WebSocketDisconnect:
        pass
    finally:
        hub.unwatch(job_id, queue)


@router.websocket("/ws/jobs")
async def watch_all_jobs(ws: WebSocket) -> None:
    """Every job the caller may see: running ones as they change, each once more when it ends."""
    await ws.accept()
    who = await websocket_user(ws)
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
                listed = await jobs.list(who, None, None, 200)
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

    finder = asyncio.create_task(discover())
    try:
        while True:
            job_id, snap = await queue.get()
            await ws.send_json(snap.model_dump(mode="json"))
            if snap.closed and job_id in watched:
                hub.unwatch(job_id, queue)
    except WebSocketDisconnect:
        pass
    finally:
        finder.cancel()
        for job_id in watched:
            hub.unwatch(job_id, queue)
