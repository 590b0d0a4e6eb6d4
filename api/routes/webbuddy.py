"""WebBuddy with its own endpoint shapes, so its Django front end and old workers keep working."""

import logging
import math
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi import Query as Query_
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.deps import (
    CurrentUser,
    JobsDep,
    QueueWorkers,
    SessionDep,
    SettingsDep,
    UserIfAny,
    caller_address,
    field_error,
    refuse_nulls,
)
from api.fields import RowId
from api.jobs import Jobs
from api.paging import Offset
from api.temporal import is_unavailable
from db import query_claims, rate_limits
from db.base import utcnow
from db.models import Project, Query, QueryLog, QueryStatus, Role, User
from settings import Settings
from workflows.webbuddy import query_job

router = APIRouter(prefix="/api", tags=["webbuddy"])
log = logging.getLogger("longrun.webbuddy")

# Roles that see every query: they process everyone's.
SEE_ALL = {Role.admin, Role.worker}


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class ProjectOut(BaseModel):
    id: int
    name: str
    owner: int
    created_at: datetime


class QueryIn(BaseModel):
    project: RowId
    query_text: str = Field(min_length=1, max_length=100_000)


class QueryOut(BaseModel):
    id: int
    project: int
    user: int
    query_text: str
    status: QueryStatus
    answer_text: str | None
    error: str | None
    query_created: datetime
    query_started: datetime | None
    query_finished: datetime | None


class QueryPatch(BaseModel):
    status: QueryStatus | None = None
    answer_text: str | None = None
    error: str | None = None
    query_text: str | None = Field(default=None, min_length=1)
    query_finished: datetime | None = None


class LogIn(BaseModel):
    project: RowId
    query: RowId
    log_data: str = Field(min_length=1)


class LogOut(BaseModel):
    id: int
    project: int
    query: int
    log_data: str
    created_at: datetime


class Push(BaseModel):
    query_id: RowId
    webbuddy_url: str | None = None


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


def project_out(p: Project) -> ProjectOut:
    return ProjectOut(id=p.id, name=p.name, owner=p.owner_id, created_at=p.created_at)


def query_out(q: Query) -> QueryOut:
    return QueryOut(
        id=q.id,
        project=q.project_id,
        user=q.user_id,
        query_text=q.query_text,
        status=QueryStatus(q.status),
        answer_text=q.answer_text,
        error=q.error,
        query_created=q.query_created,
        query_started=q.query_started,
        query_finished=q.query_finished,
    )


def log_out(entry: QueryLog) -> LogOut:
    return LogOut(
        id=entry.id,
        project=entry.project_id,
        query=entry.query_id,
        log_data=entry.log_data,
        created_at=entry.created_at,
    )


async def visible_query(session: AsyncSession, query_id: RowId, who: Principal) -> Query:
    query = await session.get(Query, query_id)
    if query is None or (who.role not in SEE_ALL and query.user_id != who.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"query {query_id} not found")
    return query


@router.post("/projects/", status_code=status.HTTP_201_CREATED, response_model=ProjectOut)
async def create_project(body: ProjectIn, session: SessionDep, who: CurrentUser):
    project = Project(name=body.name, owner_id=who.id)
    session.add(project)
    await session.commit()
    return project_out(project)


@router.get("/projects/", response_model=list[ProjectOut])
async def list_projects(session: SessionDep, who: CurrentUser):
    stmt = select(Project).order_by(Project.id)
    if who.role not in SEE_ALL:
        stmt = stmt.where(Project.owner_id == who.id)
    return [project_out(p) for p in await session.scalars(stmt)]


@router.post("/queries/", status_code=status.HTTP_201_CREATED, response_model=QueryOut)
async def create_query(body: QueryIn, session: SessionDep, who: CurrentUser, jobs: JobsDep):
    project = await session.get(Project, body.project)
    if project is None or (who.role not in SEE_ALL and project.owner_id != who.id):
        raise field_error("project", f"unknown project {body.project}")
    query = Query(project_id=project.id, user_id=who.id, query_text=body.query_text, status=QueryStatus.queued)
    session.add(query)
    await session.commit()
    # The row is committed first: if Temporal is down the query waits, queued, for the reconcile schedule.
    try:
        await jobs.start(query_job(query.id, who.username))
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("query %s stays queued: %s", query.id, exc)
    return query_out(query)


@router.get("/queries/", response_model=list[QueryOut])
async def list_queries(
    session: SessionDep,
    who: CurrentUser,
    status_: Annotated[QueryStatus | None, Query_(alias="status")] = None,
    project: RowId | None = None,
    limit: Annotated[int, Query_(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    # `-id`: newest first, as a person reads their queries (the dashboard); WebBuddy's own clients send none.
    ordering: Literal["id", "-id"] = "id",
):
    stmt = select(Query).order_by(Query.id.desc() if ordering == "-id" else Query.id)
    if who.role not in SEE_ALL:
        stmt = stmt.where(Query.user_id == who.id)
    if status_ is not None:
        stmt = stmt.where(Query.status == status_)
    if project is not None:
        stmt = stmt.where(Query.project_id == project)
    return [query_out(q) for q in await session.scalars(stmt.limit(limit).offset(offset))]


@router.post("/queries/claim_next/", response_model=QueryOut)
async def claim_next(session: SessionDep, _: QueueWorkers):
    query = await query_claims.claim_next(session)
    if query is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No queued queries available")
    return query_out(query)


@router.get("/queries/{query_id}/", response_model=QueryOut)
async def read_query(query_id: RowId, session: SessionDep, who: CurrentUser):
    return query_out(await visible_query(session, query_id, who))


@router.patch("/queries/{query_id}/", response_model=QueryOut)
async def update_query(query_id: RowId, body: QueryPatch, session: SessionDep, who: CurrentUser):
    query = await visible_query(session, query_id, who)
    changes = body.model_dump(exclude_unset=True)
    refuse_nulls(query, changes)
    if changes.get("status") in (QueryStatus.done, QueryStatus.failed) and "query_finished" not in changes:
        changes["query_finished"] = utcnow()
    for key, value in changes.items():
        setattr(query, key, value)
    query.last_activity_at = utcnow()
    await session.commit()
    return query_out(query)


@router.post("/logs/", status_code=status.HTTP_201_CREATED, response_model=LogOut)
async def create_log(body: LogIn, session: SessionDep, who: CurrentUser):
    query = await visible_query(session, body.query, who)
    if query.project_id != body.project:
        raise field_error("project", f"query {query.id} belongs to project {query.project_id}, not {body.project}")
    entry = QueryLog(project_id=body.project, query_id=query.id, log_data=body.log_data, created_at=utcnow())
    session.add(entry)
    # A log is a sign of life: the claim is not abandoned.
    query.last_activity_at = utcnow()
    await session.commit()
    return log_out(entry)


@router.get("/logs/", response_model=list[LogOut])
async def list_logs(query: RowId, session: SessionDep, who: CurrentUser):
    await visible_query(session, query, who)
    entries = await session.scalars(select(QueryLog).where(QueryLog.query_id == query).order_by(QueryLog.id))
    return [log_out(e) for e in entries]


@router.post(
    "/process-query",
    responses={
        409: {"description": "the query is already closed (only with a token)"},
        429: {"description": "too many pushes without a token from this address (Retry-After)"},
    },
)
async def process_query(
    body: Push, request: Request, session: SessionDep, who: UserIfAny, jobs: JobsDep, settings: SettingsDep
) -> Accepted:
    """Where the WebBuddy site pushes each new query: a queued query gets its workflow (or the one already
    running is found).

    A query in progress is already someone's, so nothing starts; a closed one is not reopened by a
    push (409 names its status): re-queue it with PATCH `status=queued` instead.

    Without a token (the site sends none) a push only wakes the queue: see `wake_queue`.
    """
    if who is None:
        await wake_queue(request, session, jobs, settings)
        return Accepted()
    query = await visible_query(session, body.query_id, who)
    if query.status in (QueryStatus.done, QueryStatus.failed):
        raise HTTPException(status.HTTP_409_CONFLICT, f"query {query.id} is already {query.status}")
    if query.status == QueryStatus.queued:
        author = await session.get(User, query.user_id)
        if author is None:  # deleted meanwhile, and its queries with it (ON DELETE CASCADE)
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"query {query.id} not found")
        await jobs.start(query_job(query.id, author.username))
    return Accepted()


async def wake_queue(request: Request, session: AsyncSession, jobs: Jobs, settings: Settings) -> None:
    """A push without a token: the oldest queued query gets its workflow (or the running one is found), whatever
    query the push names, as `claim_next` takes the oldest and not the one asked for.

    Nobody is known, so the push must tell nothing and do nothing a caller could aim: the query it names is never
    read, so any id, a closed query's or none's, gets the same answer in the same way, and `webbuddy_url` is never
    fetched. What it can do is what the reconcile sweep does anyway, only sooner; it is bounded per client address
    (429 beyond), and a refused push costs one statement and no Temporal call.
    """
    wait = await rate_limits.refused(
        request.app.state.sessions,
        f"webbuddy-push:{caller_address(request)}",
        rate_per_second=settings.webbuddy_tokenless_pushes_per_second,
        burst=settings.webbuddy_tokenless_push_burst,
    )
    if wait:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many pushes without a token from this address; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    oldest = await query_claims.waiting_queries(session, utcnow(), 1)
    if not oldest:
        return
    query_id, owner = oldest[0]
    try:
        await jobs.start(query_job(query_id, owner))
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # The same answer as when it starts: the reconcile sweep starts it once Temporal is back.
        log.warning("a push could not wake query %s: %s", query_id, exc)
