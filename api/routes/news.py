"""News discovery: sources, starting a discovery run, drafts, and the old status endpoint."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import (
    CurrentUser,
    Editors,
    JobsDep,
    People,
    SessionDep,
    SettingsDep,
    delete_found,
    field_error,
    found,
    save_changes,
)
from api.fields import RowId
from api.jobs import JobNotFound, JobStarted
from api.paging import Offset, page_of
from clients.outside_http import INTERNAL_URL, internal_at_save, shared_allowlist
from db.models import NewsPost, NewsSource
from db.models.news import STATUS_CHANGES, NewsStatus
from domain.urls import MAX_URL_LENGTH, web_url
from workflows.base import JobStatus
from workflows.news import JOB_TYPE, DiscoverNewsInput, SourceRef, discovery_job

router = APIRouter(prefix="/api/v1/news", tags=["news"])


def _storable(url: AnyHttpUrl) -> AnyHttpUrl:
    # pydantic's URL may still be one the WebUrl column refuses (longer than the column once encoded): a 422
    # naming the field, not a 500 from the database layer.
    if web_url(str(url)) is None:
        raise ValueError(f"must be an http(s) URL of at most {MAX_URL_LENGTH} characters")
    return url


FeedUrl = Annotated[AnyHttpUrl, AfterValidator(_storable)]


class SourceIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    feed_url: FeedUrl
    topic: str = Field(default="", max_length=500)
    active: bool = True


class SourcePatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    feed_url: FeedUrl | None = None
    topic: str | None = Field(default=None, max_length=500)
    active: bool | None = None


class SourceLastRun(BaseModel):
    """How the source fared in the last discovery run that finished with it."""

    job_id: str
    finished_at: datetime
    entries: int | None  # feed entries read; null when the source failed
    drafts: int | None  # drafts that run holds for the source; null when the source failed
    error: str | None  # why the source failed, null when it did not


class SourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    feed_url: str
    topic: str
    active: bool
    created_at: datetime
    last_run: SourceLastRun | None  # null until a discovery run has finished with the source


def source_out(source: NewsSource) -> SourceOut:
    last_run = None
    if source.last_run_id is not None and source.last_run_at is not None:
        last_run = SourceLastRun(
            job_id=source.last_run_id,
            finished_at=source.last_run_at,
            entries=source.last_run_entries,
            drafts=source.last_run_drafts,
            error=source.last_run_error,
        )
    return SourceOut(
        id=source.id,
        name=source.name,
        feed_url=source.feed_url,
        topic=source.topic,
        active=source.active,
        created_at=source.created_at,
        last_run=last_run,
    )


class DraftOut(BaseModel):
    id: int
    source_id: int
    source_name: str
    run_id: str | None
    url: str
    title: str
    summary: str
    status: NewsStatus
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DraftPage(BaseModel):
    items: list[DraftOut]
    total: int


class DraftPatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    summary: str | None = None
    # Only a draft's own decision (draft → published or rejected); another change of status is a 409.
    status: NewsStatus | None = None


class DiscoveryStatus(BaseModel):
    """The answer of `/discover-news-status/`, the endpoint the news pages polled before Longrun, field for field."""

    id: str
    status: str  # the job's status, with `failed` spelled `error` as those pages expect
    is_running: bool
    total_sources: int
    processed_sources: int
    current_source: str | None
    news_found: int
    progress_percent: float
    errors: list[dict[str, Any]]
    error_message: str | None
    started_at: datetime | None
    completed_at: datetime | None


class Discover(BaseModel):
    source_ids: list[RowId] | None = Field(default=None, min_length=1, max_length=1000)
    max_parallel: int = Field(default=3, ge=1, le=20)


@router.get("/sources")
async def list_sources(session: SessionDep, _: CurrentUser) -> list[SourceOut]:
    return [source_out(s) for s in await session.scalars(select(NewsSource).order_by(NewsSource.id))]


def _reachable(feed_url: str | None, settings) -> None:
    # The fetch refuses it at connect anyway; saying so now spares a source that can never be read.
    if internal_at_save(feed_url, shared_allowlist(settings)):
        raise field_error("feed_url", INTERNAL_URL)


@router.post("/sources", status_code=status.HTTP_201_CREATED)
async def create_source(body: SourceIn, session: SessionDep, settings: SettingsDep, _: Editors) -> SourceOut:
    _reachable(str(body.feed_url), settings)
    source = NewsSource(**body.model_dump(mode="json"))
    session.add(source)
    await session.commit()
    return source_out(source)


@router.get("/sources/{source_id}")
async def read_source(source_id: RowId, session: SessionDep, _: CurrentUser) -> SourceOut:
    return source_out(await found(session, NewsSource, source_id, "news source"))


@router.patch("/sources/{source_id}")
async def update_source(
    source_id: RowId, body: SourcePatch, session: SessionDep, settings: SettingsDep, _: Editors
) -> SourceOut:
    _reachable(str(body.feed_url) if body.feed_url is not None else None, settings)
    source = await found(session, NewsSource, source_id, "news source")
    return source_out(await save_changes(session, source, body.model_dump(mode="json", exclude_unset=True)))


@router.delete("/sources/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_source(source_id: RowId, session: SessionDep, _: Editors) -> None:
    await delete_found(session, NewsSource, source_id, "news source")


@router.post("/discover", status_code=status.HTTP_202_ACCEPTED)
async def discover(body: Discover, session: SessionDep, who: People, jobs: JobsDep) -> JobStarted:
    if body.source_ids is None:
        sources = (await session.scalars(select(NewsSource).where(NewsSource.active).order_by(NewsSource.id))).all()
        if not sources:
            raise field_error("source_ids", "there are no active news sources; add one or name source_ids")
    else:
        wanted = list(dict.fromkeys(body.source_ids))
        sources = (await session.scalars(select(NewsSource).where(NewsSource.id.in_(wanted)))).all()
        missing = sorted(set(wanted) - {s.id for s in sources})
        if missing:
            raise field_error("source_ids", f"unknown news source ids: {missing}")
    arg = DiscoverNewsInput(sources=[SourceRef(id=s.id, name=s.name) for s in sources], max_parallel=body.max_parallel)
    return await jobs.launch(discovery_job(arg, who.username))


@router.get("/discover/{job_id}")
async def discovery_status(job_id: str, session: SessionDep, who: CurrentUser, jobs: JobsDep) -> DiscoveryStatus:
    """In the shape of `/discover-news-status/`, so the news admin page keeps polling unchanged."""
    try:
        snap = await jobs.snapshot(job_id, who)
    except JobNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} not found") from exc
    if snap.type != JOB_TYPE:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id!r} is not a news discovery")
    news_found = (await session.execute(select(func.count()).where(NewsPost.run_id == job_id))).scalar_one()
    return DiscoveryStatus(
        id=job_id,
        status="error" if snap.status == JobStatus.failed else snap.status.value,
        is_running=not snap.closed,
        total_sources=snap.total,
        processed_sources=snap.processed,
        current_source=snap.current,
        news_found=news_found,
        progress_percent=snap.percent,
        errors=[e.model_dump() for e in snap.errors],
        error_message="; ".join(f"{e.item}: {e.error}" for e in snap.errors) or None,
        started_at=snap.started_at,
        completed_at=snap.updated_at if snap.closed else None,
    )


@router.get("/drafts")
async def list_drafts(
    session: SessionDep,
    _: CurrentUser,
    run_id: str | None = None,
    source_id: RowId | None = None,
    since: datetime | None = None,
    status_: Annotated[NewsStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> DraftPage:
    where = []
    if run_id is not None:
        where.append(NewsPost.run_id == run_id)
    if source_id is not None:
        where.append(NewsPost.source_id == source_id)
    if since is not None:
        where.append(NewsPost.created_at >= since)
    if status_ is not None:
        where.append(NewsPost.status == status_)
    order = [NewsPost.created_at.desc(), NewsPost.id.desc()]
    rows, total = await page_of(session, NewsPost, where, order, limit, offset)
    return DraftPage(items=await drafts_out(session, rows), total=total)


async def drafts_out(session: AsyncSession, drafts: list[NewsPost]) -> list[DraftOut]:
    """The drafts with their source's name, read in one query for the whole page."""
    wanted = {d.source_id for d in drafts}
    names = dict((await session.execute(select(NewsSource.id, NewsSource.name).where(NewsSource.id.in_(wanted)))).all())
    columns = [name for name in DraftOut.model_fields if name != "source_name"]
    return [
        DraftOut.model_validate({**{c: getattr(d, c) for c in columns}, "source_name": names[d.source_id]})
        for d in drafts
    ]


@router.patch("/drafts/{draft_id}")
async def update_draft(draft_id: RowId, body: DraftPatch, session: SessionDep, _: Editors) -> DraftOut:
    draft = await found(session, NewsPost, draft_id, "draft")
    changes = body.model_dump(exclude_unset=True)
    if changes.get("status") is not None and changes["status"] != draft.status:
        refuse_unless_allowed(draft, changes["status"])
    [out] = await drafts_out(session, [await save_changes(session, draft, changes)])
    return out


@router.post("/drafts/{draft_id}/publish")
async def publish_draft(draft_id: RowId, session: SessionDep, _: Editors) -> DraftOut:
    return await decide(draft_id, NewsStatus.published, session)


@router.post("/drafts/{draft_id}/reject")
async def reject_draft(draft_id: RowId, session: SessionDep, _: Editors) -> DraftOut:
    return await decide(draft_id, NewsStatus.rejected, session)


async def decide(draft_id: int, to: NewsStatus, session: AsyncSession) -> DraftOut:
    # Locked, so two editors deciding at once are told apart: the second finds the first's decision and gets a 409.
    draft = await session.scalar(select(NewsPost).where(NewsPost.id == draft_id).with_for_update())
    if draft is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"draft {draft_id} not found")
    refuse_unless_allowed(draft, to)
    [out] = await drafts_out(session, [await save_changes(session, draft, {"status": to})])
    return out


def refuse_unless_allowed(draft: NewsPost, to: str) -> None:
    if to not in STATUS_CHANGES[NewsStatus(draft.status)]:
        raise HTTPException(status.HTTP_409_CONFLICT, f"draft {draft.id} is {draft.status}: it cannot become {to}")
