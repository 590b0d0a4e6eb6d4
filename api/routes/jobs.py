"""The jobs API: every long operation's progress, listing, cancel and clean-up, plus websocket pushes."""

import asyncio
import json
from contextlib import suppress
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel

from api.auth import InvalidToken, Principal
from api.deps import admin_only, current_user, jobs
from api.jobs import JobClosed, JobNotFound, Jobs
from api.progress_hub import ProgressHub, Update
from workflows.base import TERMINAL, JobStatus

router = APIRouter(prefix="/api/v1", tags=["jobs"])

# How often the all-jobs stream looks for newly started jobs.
DISCOVERY_INTERVAL = 1.0


def not_found(job_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found")


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, who: Principal = Depends(current_user), jobs: Jobs = Depends(jobs)) -> dict:
    try:
        return await jobs.snapshot(job_id, who)
    except JobNotFound as exc:
        raise not_found(job_id) from exc


@router.get("/jobs")
async def list_jobs(
    type: str | None = Query(None, max_length=100, pattern=r"^[a-z0-9_]+$"),
    status: JobStatus | None = None,
    limit: int = Query(50, ge=1, le=1000),
    who: Principal = Depends(current_user),
    jobs: Jobs = Depends(jobs),
) -> dict:
    return {"jobs": await jobs.list(who, type, status, limit)}


class CancelBody(BaseModel):
    reason: str = ""


@router.post("/jobs/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_job(
    job_id: str,
    body: CancelBody | None = None,
    force: bool = False,
    who: Principal = Depends(current_user),
    jobs: Jobs = Depends(jobs),
) -> dict:
    if force and not who.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "force=true (Temporal's own cancel) is for admins")
    try:
        await jobs.cancel(job_id, who, body.reason if body else "", force)
    except JobNotFound as exc:
        raise not_found(job_id) from exc
    except JobClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id!r} has already finished") from exc
    return {"job_id": job_id, "status": JobStatus.cancelling.value}


@router.post("/jobs/cleanup")
async def cleanup_jobs(
    max_age_hours: float = Query(24, ge=0), _: Principal = Depends(admin_only), jobs: Jobs = Depends(jobs)
) -> dict:
    return {"deleted": await jobs.cleanup(max_age_hours)}


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
            await ws.send_json(snap)
            if JobStatus(snap["status"]) in TERMINAL:
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
            with suppress(Exception):
                for job in await jobs.list(who, None, None, 200):
                    # Running jobs, and jobs started since the socket opened even if they already
                    # ended between two sweeps: their final snapshot is still worth a message.
                    fresh = job["started_at"] >= connected_at
                    if (job["closed_at"] is None or fresh) and job["job_id"] not in watched:
                        watched.add(job["job_id"])
                        hub.watch(job["job_id"], queue)
            await asyncio.sleep(DISCOVERY_INTERVAL)

    finder = asyncio.create_task(discover())
    try:
        while True:
            job_id, snap = await queue.get()
            await ws.send_json(snap)
            if JobStatus(snap["status"]) in TERMINAL and job_id in watched:
                hub.unwatch(job_id, queue)
    except WebSocketDisconnect:
        pass
    finally:
        finder.cancel()
        for job_id in watched:
            hub.unwatch(job_id, queue)
