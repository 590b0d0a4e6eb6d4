"""The services' health for admins (`GET /api/v1/services`): each long-lived workflow of this deployment, whether it
runs, what it has done, when it last did something, what waits for it and its last error.

A service is read like a job (its progress query, its retrying step), by the id this deployment gives it."""

from collections.abc import Awaitable, Callable
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.job_retries import Retrying
from api.jobs import JobNotFound, Jobs
from db import tracker_inbox
from settings import Settings
from workflows.base import TERMINAL, JobError, JobStatus
from workflows.services import SERVICES
from workflows.tracker_inbox import INBOX_JOB

# A backlog is counted up to this many: past it the number says "a lot", and counting further costs a scan.
BACKLOG_CAP = 100_000

# What waits for each service, where that is cheap to count (an index serves it).
BACKLOGS: dict[str, Callable[[AsyncSession], Awaitable[int]]] = {
    INBOX_JOB: lambda session: tracker_inbox.waiting(session, BACKLOG_CAP),
}


class ServiceHealth(BaseModel):
    type: str
    # The workflow id: `GET /api/v1/jobs/{job_id}` answers its whole progress.
    job_id: str
    does: str
    running: bool
    # The service's own status (`running`, or how its last run ended); null when it was never started here.
    status: JobStatus | None
    message: str = ""
    # When the service (its first run, across continue-as-new) started, and when its progress last changed.
    started_at: datetime | None = None
    last_activity_at: datetime | None = None
    processed: int = 0
    failed: int = 0
    # How many items wait for it (counted up to BACKLOG_CAP); null where not counted.
    backlog: int | None = None
    last_error: JobError | None = None
    # Set while one of its steps fails and is retried (the same shape as a job's).
    retrying: Retrying | None = None


class ServiceList(BaseModel):
    services: list[ServiceHealth]


async def service_health(jobs: Jobs, session: AsyncSession, settings: Settings) -> list[ServiceHealth]:
    found = []
    for service in SERVICES.values():
        job_id = service.workflow_id(settings)
        health = ServiceHealth(type=service.job_type, job_id=job_id, does=service.does, running=False, status=None)
        try:
            snap = await jobs.snapshot(job_id, None)
        except JobNotFound:
            snap = None
        if snap is not None:
            health = health.model_copy(
                update={
                    "running": snap.status not in TERMINAL,
                    "status": snap.status,
                    "message": snap.message,
                    "started_at": snap.started_at,
                    "last_activity_at": snap.updated_at,
                    "processed": snap.processed,
                    "failed": snap.failed,
                    "last_error": snap.errors[-1] if snap.errors else None,
                    "retrying": snap.retrying,
                }
            )
        backlog = BACKLOGS.get(service.job_type)
        if backlog is not None:
            health.backlog = await backlog(session)
        found.append(health)
    return found
