"""The jobs API: every long operation's progress, listing, cancel, rerun and clean-up, plus websocket pushes; and the
services (long-lived workflows that are not jobs) with their health."""

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, WebSocket, status
from pydantic import BaseModel, Field

from api.deps import AdminOnly, CurrentUser, JobsDep, SessionDep, SettingsDep, field_error
from api.fields import MaxAgeHours
from api.job_reruns import CannotRerun, rerun_request
from api.job_services import ServiceList, service_health
from api.job_sockets import stream_job, stream_jobs
from api.jobs import (
    OPEN_STATUSES,
    JobClosed,
    JobInputGone,
    JobNotFound,
    JobSnapshot,
    JobStarted,
    JobStillOpen,
    JobSummary,
)
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


JobType = Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9_]+$")]
Owner = Annotated[str | None, Query(min_length=1, max_length=150)]


class CancelMany(BaseModel):
    """Which jobs to cancel: the list's filters (every one left out matches all); services are never included."""

    type: str | None = Field(default=None, max_length=100, pattern=r"^[a-z0-9_]+$")
    # One of the open statuses (pending, running, paused, cancelling); none: every open job.
    status: JobStatus | None = None
    owner: str | None = Field(default=None, min_length=1, max_length=150)
    reason: str = Field(default="", max_length=1000)


class CancelledMany(BaseModel):
    # How many jobs were sent the cancel signal, and which (each ends as `cancelled` once it has stopped).
    cancelled: int
    job_ids: list[str]


class Rerun(JobStarted):
    """A rerun's new job (202): `rerun_of` is the closed job whose input it was started with."""

    rerun_of: str


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
    type: JobType = None,
    status: JobStatus | None = None,
    owner: Owner = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> JobList:
    """Your jobs (admins: everyone's, or `owner`'s), newest first. Services are listed only when `type` names one
    (`GET /api/v1/services` has them with their health)."""
    return JobList(jobs=await jobs.list(who, type, status, limit, owner))


@router.post("/jobs/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_many(body: CancelMany, who: AdminOnly, jobs: JobsDep) -> CancelledMany:
    """Send the cancel signal to every open job the filters match (admins)."""
    if body.status is not None and body.status not in OPEN_STATUSES:
        open_ones = ", ".join(sorted(s.value for s in OPEN_STATUSES))
        raise field_error("status", f"{body.status.value!r} jobs have closed already; cancel only {open_ones} ones")
    reason = body.reason or f"cancelled by {who.username} with others"
    cancelled = await jobs.cancel_many(who, body.type, body.status, body.owner, reason)
    return CancelledMany(cancelled=len(cancelled), job_ids=cancelled)


@router.post("/jobs/{job_id}/rerun", status_code=status.HTTP_202_ACCEPTED)
async def rerun_job(job_id: str, who: CurrentUser, jobs: JobsDep) -> Rerun:
    """Start a new job of a closed job's type with the same input, owned by the caller."""
    try:
        job_type, value = await jobs.input_of_closed(job_id, who)
    except JobNotFound as exc:
        raise not_found(job_id) from exc
    except JobStillOpen as exc:
        detail = f"job {job_id!r} is still open: rerun it once it has closed"
        raise HTTPException(status.HTTP_409_CONFLICT, detail) from exc
    except JobInputGone as exc:
        detail = f"job {job_id!r} cannot be rerun: its input was too large to keep past Temporal's retention"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail) from exc
    try:
        job = rerun_request(job_type, value, who.role, who.username)
    except CannotRerun as exc:
        code = status.HTTP_403_FORBIDDEN if exc.forbidden else status.HTTP_422_UNPROCESSABLE_ENTITY
        raise HTTPException(code, f"job {job_id!r} cannot be rerun: {exc}") from exc
    started = await jobs.launch(job)
    return Rerun(**started.model_dump(), rerun_of=job_id)


@router.get("/services")
async def list_services(_: AdminOnly, jobs: JobsDep, session: SessionDep, settings: SettingsDep) -> ServiceList:
    """This deployment's services (long-lived workflows such as the tracker's inbox drainer) and their health."""
    return ServiceList(services=await service_health(jobs, session, settings))


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
