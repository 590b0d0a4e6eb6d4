"""The jobs API: every long operation's progress, listing, cancel and clean-up, plus websocket pushes."""

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket, status
from pydantic import BaseModel, Field

from api.deps import AdminOnly, CurrentUser, JobsDep
from api.fields import MaxAgeHours
from api.job_sockets import stream_job, stream_jobs
from api.jobs import JobClosed, JobNotFound, JobSnapshot, JobSummary
from workflows.base import JobStatus

router = APIRouter(prefix="/api/v1", tags=["jobs"])
log = logging.getLogger("longrun.jobs")


def not_found(job_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found")


class JobList(BaseModel):
    jobs: list[JobSummary]


class CancelBody(BaseModel):
    reason: str = Field(default="", max_length=1000)


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
async def cleanup_jobs(_: AdminOnly, jobs: JobsDep, max_age_hours: MaxAgeHours = 24) -> Cleaned:
    return Cleaned(deleted=await jobs.cleanup(max_age_hours))


@router.websocket("/ws/jobs/{job_id}")
async def watch_job(ws: WebSocket, job_id: str) -> None:
    await stream_job(ws, job_id)


@router.websocket("/ws/jobs")
async def watch_all_jobs(ws: WebSocket) -> None:
    await stream_jobs(ws)
