"""Tracker ingestion: `POST /api/v1/ingestion {chat, limit?, since?}` imports a chat's history; the
job's row (`MessageIngestionJob`) is listed, read and cancelled here, its progress pushed as `ingestion.*` events on
`WS /api/v1/ws/events`.

The row is written before the workflow starts (the intent) and names the workflow (`tracker-ingest-<id>`), so a
start Temporal never got is visible as a failed row rather than lost. Whether the chat exists only Telegram can say,
and only the workers hold a Telegram session: a chat that is not there fails the job with an `error_message` that
says so (`ingestion.failed`); a `chat` that cannot be a chat at all is refused here with 422. Only groups,
supergroups and channels are read: "self" and a user's numeric id are refused here, a person's or a bot's @username
by the job once Telegram has said what it is.
"""

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from temporalio.service import RPCError

from api.deps import CurrentUser, Editors, JobsDep, SessionDep, cancel_job, found
from api.fields import RowId
from api.paging import Limit, Offset, page_of
from api.routes.jobs import CancelAccepted, CancelBody
from api.temporal import TemporalUnavailable
from db.models.tracker import JobRecordStatus, MessageIngestionJob
from workflows.base import JobStatus
from workflows.tracker_ingestion import ingestion_job, ingestion_job_id

router = APIRouter(prefix="/api/v1", tags=["tracker"])

# What pyrogram resolves (clients/telegram.channel_ref): @username, username, a t.me link, or a numeric chat id.
_CHAT = re.compile(
    r"^(?:@?[A-Za-z][A-Za-z0-9_]{3,31}|(?:https?://)?(?:t\.me|telegram\.me)/(?:s/)?[A-Za-z0-9_]{4,}/?|-?[1-9]\d{0,18})$"
)
_SESSIONS_OWN = {"self", "me"}  # pyrogram's names for the session's own chat
CLOSED = {JobRecordStatus.completed.value, JobRecordStatus.failed.value, JobRecordStatus.cancelled.value}


class IngestionStart(BaseModel):
    chat: str = Field(min_length=1, max_length=200, description="@username, t.me link or numeric chat id")
    limit: int | None = Field(default=None, ge=1, le=10_000_000, description="at most this many of the newest messages")
    since: datetime | None = Field(default=None, description="only messages sent at or after this time")

    @field_validator("chat")
    @classmethod
    def a_chat(cls, chat: str) -> str:
        chat = chat.strip()
        if not _CHAT.match(chat):
            raise ValueError("not a Telegram chat: give its @username (5-32 letters, digits, _), t.me link or id")
        # What can be known without Telegram: the session's own chat, and a positive id (a user's, in the Bot API
        # numbering pyrogram uses). A person's or bot's @username only Telegram can tell: the job refuses those.
        if chat.lstrip("@").lower() in _SESSIONS_OWN:
            raise ValueError(f"{chat!r} is the service account's own Saved Messages: only groups and channels")
        if chat.isdigit():
            raise ValueError(f"{chat} is a user's id (a private chat): only groups (-id) and channels (-100...)")
        return chat

    @field_validator("since")
    @classmethod
    def not_in_the_future(cls, since: datetime | None) -> datetime | None:
        if since is None:
            return None
        since = since if since.tzinfo else since.replace(tzinfo=UTC)  # a time without a zone is UTC
        if since > datetime.now(UTC):
            raise ValueError(f"`since` ({since.isoformat()}) is in the future: no message was sent then yet")
        return since


class IngestionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    job_id: str | None = Field(validation_alias="workflow_id")
    chat: str
    limit: int | None
    since: datetime | None
    status: JobRecordStatus
    created_by: int | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    messages_fetched: int
    messages_saved: int
    messages_skipped: int
    errors_count: int
    error_message: str | None


class IngestionPage(BaseModel):
    items: list[IngestionOut]
    total: int


@router.post("/ingestion", status_code=status.HTTP_202_ACCEPTED)
async def start_ingestion(body: IngestionStart, session: SessionDep, who: Editors, jobs: JobsDep) -> IngestionOut:
    row = MessageIngestionJob(
        chat=body.chat, limit=body.limit, since=body.since, created_by=who.id, status=JobRecordStatus.pending.value
    )
    session.add(row)
    await session.flush()
    row.workflow_id = ingestion_job_id(row.id)
    await session.commit()
    try:
        await jobs.start(ingestion_job(row.id, who.username))
    except (TemporalUnavailable, RPCError) as exc:
        # Said in the row as well as in the answer: the job will not run unless started again.
        row.status, row.error_message = JobRecordStatus.failed.value, f"the job could not be started: {exc}"
        row.completed_at = datetime.now(UTC)
        await session.commit()
        raise
    return IngestionOut.model_validate(row)


@router.get("/ingestion")
async def list_ingestions(
    session: SessionDep,
    _: CurrentUser,
    status_: Annotated[JobRecordStatus | None, Query(alias="status")] = None,
    chat: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> IngestionPage:
    where = []
    if status_ is not None:
        where.append(MessageIngestionJob.status == status_.value)
    if chat is not None:
        where.append(MessageIngestionJob.chat == chat)
    order = [MessageIngestionJob.id.desc()]
    rows, total = await page_of(session, MessageIngestionJob, where, order, limit, offset)
    return IngestionPage(items=[IngestionOut.model_validate(r) for r in rows], total=total)


@router.get("/ingestion/{ingestion_id}")
async def read_ingestion(ingestion_id: RowId, session: SessionDep, _: CurrentUser) -> IngestionOut:
    return IngestionOut.model_validate(await found(session, MessageIngestionJob, ingestion_id, "ingestion"))


@router.post("/ingestion/{ingestion_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_ingestion(
    ingestion_id: RowId, session: SessionDep, who: Editors, jobs: JobsDep, body: CancelBody | None = None
) -> CancelAccepted:
    """The job's cancel signal: the page under way stops and rolls back, the row ends `cancelled`."""
    row = await found(session, MessageIngestionJob, ingestion_id, "ingestion")
    if row.status in CLOSED or row.workflow_id is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"ingestion {ingestion_id} has already finished ({row.status})")
    await cancel_job(jobs, row.workflow_id, f"ingestion {ingestion_id}", who, body.reason if body else "")
    return CancelAccepted(job_id=row.workflow_id, status=JobStatus.cancelling)
