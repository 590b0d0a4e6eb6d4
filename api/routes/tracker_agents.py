"""The tracker's agent configs: which model and prompt extraction, analysis runs and experiments use.
Everyone signed in reads them; admins write. Activating a config switches off its role's other active one in the
same transaction."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AdminOnly, CurrentUser, SessionDep, delete_found, field_error, found, refuse_nulls
from api.fields import RowId
from db.models.tracker import AgentConfig, AgentRole, LLMProvider
from db.tracker_agents import deactivate_others

router = APIRouter(prefix="/api/v1", tags=["tracker"])


class AgentIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: AgentRole
    provider_id: RowId | None = Field(default=None, description="null: the configured LLM")
    model: str = Field(default="", max_length=200, description="empty: the provider's (or the configured) chat model")
    system_prompt: str = Field(min_length=1, max_length=20_000)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    active: bool = True


class AgentPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    role: AgentRole | None = None
    provider_id: RowId | None = None
    model: str | None = Field(default=None, max_length=200)
    system_prompt: str | None = Field(default=None, min_length=1, max_length=20_000)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    active: bool | None = None


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    role: AgentRole
    provider_id: int | None
    model: str
    system_prompt: str
    temperature: float | None
    active: bool
    created_at: datetime
    updated_at: datetime


async def saved(session: AsyncSession, config: AgentConfig) -> AgentConfig:
    """Commit a new or changed config; it deactivates its role's other active one first when it is active."""
    # Not flushed first: a changed config naming no provider would reach the database before this check.
    with session.no_autoflush:
        if config.provider_id is not None and await session.get(LLMProvider, config.provider_id) is None:
            raise field_error("provider_id", f"unknown LLM provider {config.provider_id}")
    if config.active:
        # Not flushed first: the row must not turn active while the other still is (one active per role).
        with session.no_autoflush:
            await deactivate_others(session, config)
    session.add(config)
    try:
        await session.commit()
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"an agent config named {config.name!r} exists") from exc
    await session.refresh(config)
    return config


@router.get("/agents", response_model=list[AgentOut])
async def list_agents(
    session: SessionDep,
    _: CurrentUser,
    role: Annotated[AgentRole | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
):
    query = select(AgentConfig).order_by(AgentConfig.role, AgentConfig.id)
    if role is not None:
        query = query.where(AgentConfig.role == role.value)
    if active is not None:
        query = query.where(AgentConfig.active == active)
    return (await session.scalars(query)).all()


@router.post("/agents", status_code=status.HTTP_201_CREATED, response_model=AgentOut)
async def create_agent(body: AgentIn, session: SessionDep, _: AdminOnly):
    return await saved(session, AgentConfig(**{**body.model_dump(), "role": body.role.value}))


@router.get("/agents/{agent_id}", response_model=AgentOut)
async def read_agent(agent_id: RowId, session: SessionDep, _: CurrentUser):
    return await found(session, AgentConfig, agent_id, "agent config")


@router.patch("/agents/{agent_id}", response_model=AgentOut)
async def update_agent(agent_id: RowId, body: AgentPatch, session: SessionDep, _: AdminOnly):
    config = await found(session, AgentConfig, agent_id, "agent config")
    changes = body.model_dump(exclude_unset=True)
    refuse_nulls(config, changes)
    if "role" in changes:
        changes["role"] = changes["role"].value
    for key, value in changes.items():
        setattr(config, key, value)
    return await saved(session, config)


@router.delete("/agents/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(agent_id: RowId, session: SessionDep, _: AdminOnly) -> None:
    # Runs and experiments keep their rows: their agent_config_id becomes null.
    await delete_found(session, AgentConfig, agent_id, "agent config")
