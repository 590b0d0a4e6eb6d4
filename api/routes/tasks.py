"""The 1C front end's tasks API (`/api/v1/tasks`, `WS /api/v1/ws/tasks`) in its own shape, over any job.

Its React `TaskProgress` and `SyncModal` poll and watch these; underneath each task is a job of the
job protocol, so a migration or a news discovery is a task too.
"""

import asyncio
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, WebSocket, status
from pydantic import BaseModel

from api.deps import AdminOnly, CurrentUser, JobsDep
from api.fields import MaxAgeHours
from api.job_sockets import stream_job, stream_jobs
from api.jobs import JobClosed, JobNotFound, JobSnapshot
from workflows.base import JobStatus

router = APIRouter(prefix="/api/v1", tags=["tasks"])

# Snapshots fetched at once for a listing: each one is a progress query.
LIST_CONCURRENCY = 8


class TaskStatus(StrEnum):
    """The five statuses the 1C front end's task components know."""

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


# A job's statuses that shape has no word for: the task is still under way, and `message` (which the front end
# shows) says which of them it is.
UNDER_WAY = frozenset({JobStatus.paused, JobStatus.cancelling})


class Task(BaseModel):
    """The 1C front end's task, field for field (`progress` is a percentage)."""

    task_id: str
    task_type: str
    status: TaskStatus
    progress: float
    total: int
    processed: int
    message: str
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    result: dict[str, Any] | None
    error: str | None
    # Added to that shape: a step failing and being tried again. The 1C front end knows no such status, so
    # `status` stays `running` and `message` (which it shows) says it; these fields say it to clients that ask.
    retrying: bool = False
    attempt: int | None = None
    retrying_since: datetime | None = None
    last_error: str | None = None
    # Added too: which phase a job in phases is in (a 1C bank sync: `loading`, then `classifying`) and how far
    # into it, so a client can say it in its reader's language; `message` says the same in English.
    phase: str | None = None
    phase_processed: int | None = None
    phase_total: int | None = None


class TaskList(BaseModel):
    tasks: list[Task]
    total: int


class Cleaned(BaseModel):
    deleted: int


def task_of(snap: JobSnapshot) -> Task:
    failed = snap.status == JobStatus.failed
    retry = snap.retrying
    message = retry.describe() if retry else snap.message
    status = TaskStatus(snap.status) if snap.status not in UNDER_WAY else TaskStatus.running
    if retry is not None and status == TaskStatus.pending:
        # Its first step is failing and being tried again: the task has started, and its message says how it goes.
        status = TaskStatus.running
    word = snap.status.value
    if snap.status in UNDER_WAY and not message.lower().startswith(word):
        message = f"{word}: {message}" if message else word
    return Task(
        task_id=snap.job_id,
        task_type=snap.type,
        status=status,
        progress=snap.percent,
        total=snap.total,
        processed=snap.processed,
        message=message,
        created_at=snap.started_at,
        started_at=snap.started_at,
        completed_at=snap.updated_at if snap.closed else None,
        result=snap.result,
        error=(snap.message or "failed") if failed else None,
        retrying=retry is not None,
        attempt=retry.attempt if retry else None,
        retrying_since=retry.since if retry else None,
        last_error=retry.last_error if retry else None,
        phase=phase if isinstance(phase := snap.details.get("phase"), str) else None,
        phase_processed=count_of(snap.details.get("phase_processed")),
        phase_total=count_of(snap.details.get("phase_total")),
    )


def count_of(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def not_found(task_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id!r} not found")


@router.get("/tasks/{task_id}")
async def get_task(task_id: str, who: CurrentUser, jobs: JobsDep) -> Task:
    try:
        return task_of(await jobs.snapshot(task_id, who))
    except JobNotFound as exc:
        raise not_found(task_id) from exc


@router.get("/tasks")
async def list_tasks(
    who: CurrentUser,
    jobs: JobsDep,
    task_type: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9_]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TaskList:
    """Your tasks (admins: everyone's), newest first, each with its progress."""
    listed = await jobs.list(who, task_type, None, limit)
    slots = asyncio.Semaphore(LIST_CONCURRENCY)

    async def snapshot(job_id: str) -> JobSnapshot | None:
        async with slots:
            try:
                return await jobs.snapshot(job_id, who)
            except JobNotFound:  # cleaned up between the listing and now
                return None

    snaps = await asyncio.gather(*(snapshot(job.job_id) for job in listed))
    tasks = [task_of(s) for s in snaps if s is not None]
    return TaskList(tasks=tasks, total=len(tasks))


@router.post("/tasks/{task_id}/cancel")
async def cancel_task(task_id: str, who: CurrentUser, jobs: JobsDep) -> Task:
    try:
        await jobs.cancel(task_id, who, f"cancelled by {who.username}", force=False)
        return task_of(await jobs.snapshot(task_id, who))
    except JobNotFound as exc:
        raise not_found(task_id) from exc
    except JobClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"task {task_id!r} has already finished") from exc


@router.post("/tasks/cleanup")
async def cleanup_tasks(_: AdminOnly, jobs: JobsDep, max_age_hours: MaxAgeHours = 24) -> Cleaned:
    return Cleaned(deleted=await jobs.cleanup(max_age_hours))


def as_task(snap: JobSnapshot) -> Any:
    return task_of(snap).model_dump(mode="json")


@router.websocket("/ws/tasks/{task_id}")
async def watch_task(ws: WebSocket, task_id: str) -> None:
    await stream_job(ws, task_id, as_task)


@router.websocket("/ws/tasks")
async def watch_tasks(ws: WebSocket) -> None:
    await stream_jobs(ws, as_task)
