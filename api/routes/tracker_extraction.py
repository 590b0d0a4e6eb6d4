"""`POST /api/v1/extraction`: a chat's knowledge extraction started by a person (admins and managers), over every
message of the chat no extraction has taken, or those of a period; the webhook chain starts the same job by itself
once 10 messages of a chat wait.

A chat's extraction is one job id (`tracker-extract-chat-<chat id>`): asked while one runs (started by a person or
by the webhook chain), the answer is that running job (`joined: true`, with what it was started with), never a
second extraction of the same messages.
"""

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import exists, select

from api.deps import Editors, JobsDep, SessionDep, SettingsDep, field_error
from api.fields import BigInt
from api.jobs import JobStarted
from db.models.tracker import AgentRole, Message
from db.tracker_knowledge import active_config
from workflows.tracker_extraction import ExtractKnowledgeInput, extraction_job

router = APIRouter(prefix="/api/v1", tags=["tracker"])

NO_EXTRACTOR = "no knowledge_extractor agent config is active: activate one at /api/v1/agents"


class ExtractionStart(BaseModel):
    telegram_chat_id: BigInt = Field(description="the chat whose messages to extract knowledge from")
    since: datetime | None = Field(default=None, description="only messages sent at or after this time")
    until: datetime | None = Field(default=None, description="only messages sent before this time")

    @field_validator("since", "until")
    @classmethod
    def zoned(cls, value: datetime | None) -> datetime | None:
        # A time without a zone is UTC.
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)

    @field_validator("until")
    @classmethod
    def period_in_order(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        since = info.data.get("since")
        if until is not None and since is not None and until <= since:
            raise ValueError(f"the period ends ({until.isoformat()}) before it starts ({since.isoformat()})")
        return until


@router.post(
    "/extraction",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": NO_EXTRACTOR}},
)
async def start_extraction(
    body: ExtractionStart, session: SessionDep, who: Editors, jobs: JobsDep, settings: SettingsDep
) -> JobStarted:
    """Extract topics and atoms from the chat's messages that no extraction has taken (of the period, when given),
    however few: batches of the configured size until none is left. Progress at `/api/v1/jobs/{job_id}`, and
    `knowledge.extraction_*` on the events socket."""
    chat = body.telegram_chat_id
    if not await session.scalar(select(exists().where(Message.telegram_chat_id == chat))):
        raise field_error("telegram_chat_id", f"no message of chat {chat} is stored")
    if await active_config(session, AgentRole.knowledge_extractor) is None:
        raise HTTPException(status.HTTP_409_CONFLICT, NO_EXTRACTOR)
    inp = ExtractKnowledgeInput(
        chat_id=chat,
        batch=settings.tracker_extraction_batch,
        minimum=1,
        window_hours=None,
        since=body.since,
        until=body.until,
    )
    return await jobs.launch(extraction_job(inp, who.username))
