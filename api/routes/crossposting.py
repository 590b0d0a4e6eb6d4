"""Telegram → MAX crossposting: channels, crossposting links, migration jobs and the message log."""

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import (
    CurrentUser,
    Editors,
    JobsDep,
    SessionDep,
    SettingsDep,
    delete_found,
    field_error,
    found,
    save_changes,
)
from api.fields import BigInt, RowId
from api.jobs import JobClosed, JobNotFound, Jobs, JobStarted
from api.paging import Offset, page_of
from clients.telegram_export import ExportInvalid, check_export
from clients.telegram_export_listing import ExportListed, list_exports
from db.message_log import count_by_status, count_failed, count_posts_published
from db.models import CrosspostingLink, MaxChannel, MessageLog, MessageStatus, SourceKind, TelegramChannel
from settings import Settings
from workflows.crossposting import MigrateChannelWorkflow, MigrationScope, migration_job, migration_job_id

router = APIRouter(prefix="/api/v1", tags=["migration"])


# -- channels ----------------------------------------------------------------------------------------


class TelegramChannelIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    source: SourceKind = SourceKind.pyrogram
    chat: str | None = Field(
        default=None, min_length=1, max_length=200, description="@username or numeric id (pyrogram)"
    )
    export_path: str | None = Field(
        default=None, min_length=1, max_length=1000, description="export directory (export)"
    )

    @model_validator(mode="after")
    def source_needs_its_field(self) -> "TelegramChannelIn":
        if self.source == SourceKind.pyrogram and not self.chat:
            raise ValueError("a pyrogram channel needs `chat`: its @username or numeric id")
        if self.source == SourceKind.export and not self.export_path:
            raise ValueError("an export channel needs `export_path`: the directory holding result.json")
        return self


class TelegramChannelPatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    chat: str | None = Field(default=None, min_length=1, max_length=200)
    export_path: str | None = Field(default=None, min_length=1, max_length=1000)


class TelegramChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    source: SourceKind
    chat: str | None
    export_path: str | None
    created_at: datetime


class MaxChannelIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    chat_id: BigInt
    bot_token: str = Field(min_length=1, max_length=500, description="write-only: never answered back")


class MaxChannelPatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    chat_id: BigInt | None = None
    bot_token: str | None = Field(default=None, min_length=1, max_length=500)


class MaxChannelOut(BaseModel):
    id: int
    title: str
    chat_id: int
    # The token's last characters, so a person can tell which bot it is without the token leaking.
    bot_token_hint: str
    created_at: datetime


class LinkIn(BaseModel):
    telegram_channel_id: RowId
    max_channel_id: RowId
    active: bool = True


class LinkPatch(BaseModel):
    active: bool | None = None


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    telegram_channel_id: int
    max_channel_id: int
    active: bool
    created_at: datetime


# The token's characters a hint shows, and how long a token must be before it shows any: the last four of a short
# token would give most of it away.
HINT_CHARS = 4
HINT_FROM_LENGTH = 16


def token_hint(token: str) -> str:
    return "…" + (token[-HINT_CHARS:] if len(token) >= HINT_FROM_LENGTH else "")


def max_channel_out(channel: MaxChannel) -> MaxChannelOut:
    return MaxChannelOut(
        id=channel.id,
        title=channel.title,
        chat_id=channel.chat_id,
        bot_token_hint=token_hint(channel.bot_token),
        created_at=channel.created_at,
    )


async def checked_export(path: str, settings: Settings) -> None:
    """A missing directory or a broken result.json is the caller's mistake now, not a failed job later."""
    try:
        await check_export(path, within=settings.exports_dir, max_bytes=settings.telegram_export_max_bytes)
    except ExportInvalid as exc:
        raise field_error("export_path", str(exc)) from exc


@router.get("/telegram-exports")
async def list_telegram_exports(_: Editors, settings: SettingsDep) -> list[ExportListed]:
    """The exports in the exports directory, each checked as a channel's export_path is when saved."""
    return await asyncio.to_thread(list_exports, settings.exports_dir, settings.telegram_export_max_bytes)


@router.get("/telegram-channels", response_model=list[TelegramChannelOut])
async def list_telegram_channels(session: SessionDep, _: CurrentUser):
    return (await session.scalars(select(TelegramChannel).order_by(TelegramChannel.id))).all()


@router.post("/telegram-channels", status_code=status.HTTP_201_CREATED, response_model=TelegramChannelOut)
async def create_telegram_channel(body: TelegramChannelIn, session: SessionDep, _: Editors, settings: SettingsDep):
    if body.source == SourceKind.export:
        assert body.export_path is not None  # the model's validator asks an export channel for its path
        await checked_export(body.export_path, settings)
    channel = TelegramChannel(**body.model_dump())
    session.add(channel)
    await session.commit()
    return channel


@router.get("/telegram-channels/{channel_id}", response_model=TelegramChannelOut)
async def read_telegram_channel(channel_id: RowId, session: SessionDep, _: CurrentUser):
    return await found(session, TelegramChannel, channel_id, "telegram channel")


@router.patch("/telegram-channels/{channel_id}", response_model=TelegramChannelOut)
async def update_telegram_channel(
    channel_id: RowId, body: TelegramChannelPatch, session: SessionDep, _: Editors, settings: SettingsDep
):
    channel = await found(session, TelegramChannel, channel_id, "telegram channel")
    changes = body.model_dump(exclude_unset=True)
    # The column is nullable (the other source leaves it empty), so refuse_nulls cannot see that this one needs it.
    needed = "export_path" if channel.source == SourceKind.export else "chat"
    if needed in changes and changes[needed] is None:
        raise field_error(needed, f"a {channel.source} channel needs `{needed}`: it cannot be null")
    if "export_path" in changes and channel.source == SourceKind.export:
        await checked_export(changes["export_path"], settings)
    return await save_changes(session, channel, changes)


@router.delete("/telegram-channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_telegram_channel(channel_id: RowId, session: SessionDep, _: Editors) -> None:
    await delete_found(session, TelegramChannel, channel_id, "telegram channel")


@router.get("/max-channels")
async def list_max_channels(session: SessionDep, _: CurrentUser) -> list[MaxChannelOut]:
    return [max_channel_out(c) for c in await session.scalars(select(MaxChannel).order_by(MaxChannel.id))]


@router.post("/max-channels", status_code=status.HTTP_201_CREATED)
async def create_max_channel(body: MaxChannelIn, session: SessionDep, _: Editors) -> MaxChannelOut:
    channel = MaxChannel(**body.model_dump())
    session.add(channel)
    await session.commit()
    return max_channel_out(channel)


@router.get("/max-channels/{channel_id}")
async def read_max_channel(channel_id: RowId, session: SessionDep, _: CurrentUser) -> MaxChannelOut:
    return max_channel_out(await found(session, MaxChannel, channel_id, "max channel"))


@router.patch("/max-channels/{channel_id}")
async def update_max_channel(
    channel_id: RowId, body: MaxChannelPatch, session: SessionDep, _: Editors
) -> MaxChannelOut:
    channel = await found(session, MaxChannel, channel_id, "max channel")
    return max_channel_out(await save_changes(session, channel, body.model_dump(exclude_unset=True)))


@router.delete("/max-channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_max_channel(channel_id: RowId, session: SessionDep, _: Editors) -> None:
    await delete_found(session, MaxChannel, channel_id, "max channel")


# -- links -------------------------------------------------------------------------------------------


@router.get("/links", response_model=list[LinkOut])
async def list_links(session: SessionDep, _: CurrentUser):
    return (await session.scalars(select(CrosspostingLink).order_by(CrosspostingLink.id))).all()


@router.post("/links", status_code=status.HTTP_201_CREATED, response_model=LinkOut)
async def create_link(body: LinkIn, session: SessionDep, _: Editors):
    if await session.get(TelegramChannel, body.telegram_channel_id) is None:
        raise field_error("telegram_channel_id", f"unknown telegram channel {body.telegram_channel_id}")
    if await session.get(MaxChannel, body.max_channel_id) is None:
        raise field_error("max_channel_id", f"unknown max channel {body.max_channel_id}")
    link = CrosspostingLink(**body.model_dump())
    session.add(link)
    try:
        await session.commit()
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, "these two channels are already linked") from exc
    return link


@router.get("/links/{link_id}", response_model=LinkOut)
async def read_link(link_id: RowId, session: SessionDep, _: CurrentUser):
    return await found(session, CrosspostingLink, link_id, "link")


@router.patch("/links/{link_id}", response_model=LinkOut)
async def update_link(link_id: RowId, body: LinkPatch, session: SessionDep, _: Editors):
    link = await found(session, CrosspostingLink, link_id, "link")
    return await save_changes(session, link, body.model_dump(exclude_unset=True))


@router.delete("/links/{link_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_link(link_id: RowId, session: SessionDep, _: Editors) -> None:
    await delete_found(session, CrosspostingLink, link_id, "link")


# -- migrations --------------------------------------------------------------------------------------


class MigrationStart(BaseModel):
    link_id: RowId
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = False

    @field_validator("until")
    @classmethod
    def period_in_order(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if since and until and since > until:
            raise ValueError(f"`until` ({until.isoformat()}) is before `since` ({since.isoformat()})")
        return until


class MigrationSignalled(BaseModel):
    job_id: str
    signal: str


class MessageLogOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    telegram_message_id: int
    post_id: int
    status: MessageStatus
    max_message_id: str | None
    error: str | None
    posted_at: datetime | None
    send_started_at: datetime | None
    sent_at: datetime | None
    prepare_ms: int | None
    send_ms: int | None
    media_bytes: int | None
    updated_at: datetime
    # The post's text, cut to TEXT_PREVIEW characters, while the log keeps the post (pending and failed: a success
    # clears it), so a person can tell which post failed. Outside text: shown as text, never as markup.
    text: str | None = None


TEXT_PREVIEW = 300


def log_row_out(row: MessageLog) -> MessageLogOut:
    out = MessageLogOut.model_validate(row)
    text = (row.post or {}).get("text")
    out.text = text[:TEXT_PREVIEW] if isinstance(text, str) and text else None
    return out


class MessageLogPage(BaseModel):
    items: list[MessageLogOut]
    total: int


class RateLimitOut(BaseModel):
    """MAX's limits as configured (the workers read the same settings), to set a job's rate against."""

    requests_per_second: float  # per bot token, uploads included
    chat_messages_per_second: float | None  # into one chat; null when that limit is off
    headroom: float  # the share of each left unused
    # The most messages a migration can send into its chat per second: the lower limit, less the headroom.
    messages_per_second: float


class MigrationState(BaseModel):
    link_id: int
    job_id: str  # the link's migration job, running or last run: /api/v1/jobs/{job_id} and its socket
    rate_limit: RateLimitOut
    # The link's message log by status, over every run so far.
    log: dict[MessageStatus, int]
    # Posts in MAX over every run (an album's members are one post): sampled over time, the rate set against the limit.
    posts_published: int


def rate_limit_out(settings: Settings) -> RateLimitOut:
    headroom = settings.max_rate_headroom
    chat = settings.max_chat_messages_per_second if settings.max_chat_messages_per_second > 0 else None
    ceiling = min(settings.max_rate_per_second, chat or settings.max_rate_per_second)
    return RateLimitOut(
        requests_per_second=settings.max_rate_per_second,
        chat_messages_per_second=chat,
        headroom=headroom,
        messages_per_second=round(ceiling * (1 - headroom), 3),
    )


@router.post("/migrations", status_code=status.HTTP_202_ACCEPTED)
async def start_migration(body: MigrationStart, session: SessionDep, who: Editors, jobs: JobsDep) -> JobStarted:
    """Start migrating a link; while one runs for the link, its job is answered instead."""
    if await session.get(CrosspostingLink, body.link_id) is None:
        raise field_error("link_id", f"unknown link {body.link_id}")
    scope = MigrationScope(link_id=body.link_id, since=body.since, until=body.until, dry_run=body.dry_run)
    return await jobs.launch(migration_job(scope, who.username))


@router.post("/migrations/{link_id}/retry-failed", status_code=status.HTTP_202_ACCEPTED)
async def retry_failed(link_id: RowId, session: SessionDep, who: Editors, jobs: JobsDep) -> JobStarted:
    await found(session, CrosspostingLink, link_id, "link")
    if not await count_failed(session, link_id):
        raise HTTPException(status.HTTP_409_CONFLICT, f"link {link_id} has no failed messages")
    scope = MigrationScope(link_id=link_id, only_failed=True)
    return await jobs.launch(migration_job(scope, who.username))


async def signal_migration(link_id: RowId, signal: str, session: AsyncSession, jobs: Jobs) -> MigrationSignalled:
    await found(session, CrosspostingLink, link_id, "link")
    job_id = migration_job_id(link_id)
    try:
        await jobs.signal(job_id, signal)
    except (JobNotFound, JobClosed) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"no migration of link {link_id} is running") from exc
    return MigrationSignalled(job_id=job_id, signal=signal)


@router.post("/migrations/{link_id}/pause", status_code=status.HTTP_202_ACCEPTED)
async def pause_migration(link_id: RowId, session: SessionDep, _: Editors, jobs: JobsDep) -> MigrationSignalled:
    """The running migration stops where it is and keeps its place."""
    return await signal_migration(link_id, MigrateChannelWorkflow.pause.__name__, session, jobs)


@router.post("/migrations/{link_id}/resume", status_code=status.HTTP_202_ACCEPTED)
async def resume_migration(link_id: RowId, session: SessionDep, _: Editors, jobs: JobsDep) -> MigrationSignalled:
    return await signal_migration(link_id, MigrateChannelWorkflow.resume.__name__, session, jobs)


@router.get("/migrations/{link_id}")
async def migration_state(link_id: RowId, session: SessionDep, _: CurrentUser, settings: SettingsDep) -> MigrationState:
    """What a migration screen sets the job's progress against: MAX's limits and the link's log so far."""
    await found(session, CrosspostingLink, link_id, "link")
    counts = await count_by_status(session, link_id)
    return MigrationState(
        link_id=link_id,
        job_id=migration_job_id(link_id),
        rate_limit=rate_limit_out(settings),
        log={s: counts.get(s, 0) for s in MessageStatus},
        posts_published=await count_posts_published(session, link_id),
    )


@router.get("/migrations/{link_id}/log")
async def message_log(
    link_id: RowId,
    session: SessionDep,
    _: CurrentUser,
    status_: Annotated[MessageStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> MessageLogPage:
    await found(session, CrosspostingLink, link_id, "link")
    where = [MessageLog.crossposting_link_id == link_id]
    if status_ is not None:
        where.append(MessageLog.status == status_)
    rows, total = await page_of(session, MessageLog, where, [MessageLog.telegram_message_id], limit, offset)
    return MessageLogPage(items=[log_row_out(r) for r in rows], total=total)
