"""The tracker's LLM providers: OpenAI-compatible servers with their chat and embedding models.
Everyone signed in reads them; admins add, change and remove them, since they decide where messages are sent."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.deps import AdminOnly, CurrentUser, SessionDep, SettingsDep, delete_found, field_error, found, save_changes
from api.fields import RowId
from clients.outside_http import INTERNAL_URL, internal_at_save, service_allowlist
from clients.providers import KEY_ENV_PREFIX, key_env_allowed
from db.models.tracker import EMBEDDING_DIMENSION, LLMProvider, ProviderKind
from domain.urls import web_url
from settings import Settings

router = APIRouter(prefix="/api/v1", tags=["tracker"])

# The name of an environment variable, not a key: a key pasted here would be stored and answered back.
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# The one column a PATCH may set to null (no key needed); every other is required.
NULLABLE = {"api_key_env"}


def checked_url(value: str | None) -> str | None:
    if value is None:
        return None
    url = web_url(value)
    if url is None:
        raise ValueError("must be an http(s) URL with a host, e.g. http://127.0.0.1:11434/v1")
    return url


def checked_dimension(value: int | None) -> int | None:
    # The embedding columns and their HNSW indexes have one size; a provider must give vectors of it.
    if value is not None and value != EMBEDDING_DIMENSION:
        raise ValueError(
            f"must be {EMBEDDING_DIMENSION}: the embedding columns hold vectors of that size "
            "(OpenAI's text-embedding-3 models are asked for it)"
        )
    return value


class ProviderIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    kind: ProviderKind = ProviderKind.openai
    base_url: str = Field(min_length=1, max_length=1000)
    api_key_env: str | None = Field(default=None, max_length=100, pattern=ENV_NAME)
    chat_model: str = Field(min_length=1, max_length=200)
    embedding_model: str = Field(min_length=1, max_length=200)
    embedding_dimension: int = EMBEDDING_DIMENSION
    active: bool = True

    _url = field_validator("base_url")(checked_url)
    _dimension = field_validator("embedding_dimension")(checked_dimension)


class ProviderPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    kind: ProviderKind | None = None
    base_url: str | None = Field(default=None, min_length=1, max_length=1000)
    api_key_env: str | None = Field(default=None, max_length=100, pattern=ENV_NAME)
    chat_model: str | None = Field(default=None, min_length=1, max_length=200)
    embedding_model: str | None = Field(default=None, min_length=1, max_length=200)
    embedding_dimension: int | None = None
    active: bool | None = None

    _url = field_validator("base_url")(checked_url)
    _dimension = field_validator("embedding_dimension")(checked_dimension)


class ProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: ProviderKind
    base_url: str
    api_key_env: str | None
    chat_model: str
    embedding_model: str
    embedding_dimension: int
    active: bool
    created_at: datetime


def check_reach(changes: dict, settings: Settings) -> None:
    """What the row would make workers and the API do that they refuse at use: a 422 naming the field now. (Rows
    saved before these checks are refused at use, clients/providers.py.)"""
    if internal_at_save(changes.get("base_url"), service_allowlist(settings, settings.llm_base_url)):
        raise field_error("base_url", INTERNAL_URL)
    name = changes.get("api_key_env")
    if name and not key_env_allowed(name, settings):
        raise field_error(
            "api_key_env",
            f"must be a variable allowed to hold a provider key: one in LONGRUN_LLM_KEY_ENVS_ALLOWED "
            f"({settings.llm_key_envs_allowed}) or a name starting {KEY_ENV_PREFIX}",
        )


@contextmanager
def unique_name(name: str | None) -> Iterator[None]:
    """The commit inside refused for the one unique column, the name: a 409 naming it."""
    try:
        yield
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"a provider named {name!r} exists") from exc


@router.get("/providers", response_model=list[ProviderOut])
async def list_providers(session: SessionDep, _: CurrentUser):
    return (await session.scalars(select(LLMProvider).order_by(LLMProvider.id))).all()


@router.post("/providers", status_code=status.HTTP_201_CREATED, response_model=ProviderOut)
async def create_provider(body: ProviderIn, session: SessionDep, settings: SettingsDep, _: AdminOnly):
    check_reach(body.model_dump(mode="json"), settings)
    provider = LLMProvider(**body.model_dump(mode="json"))
    session.add(provider)
    with unique_name(body.name):
        await session.commit()
    return provider


@router.get("/providers/{provider_id}", response_model=ProviderOut)
async def read_provider(provider_id: RowId, session: SessionDep, _: CurrentUser):
    return await found(session, LLMProvider, provider_id, "provider")


@router.patch("/providers/{provider_id}", response_model=ProviderOut)
async def update_provider(
    provider_id: RowId, body: ProviderPatch, session: SessionDep, settings: SettingsDep, _: AdminOnly
):
    provider = await found(session, LLMProvider, provider_id, "provider")
    changes = body.model_dump(mode="json", exclude_unset=True)
    check_reach(changes, settings)
    for field, value in changes.items():
        if value is None and field not in NULLABLE:
            raise field_error(field, "may not be null")
    with unique_name(changes.get("name")):
        return await save_changes(session, provider, changes)


@router.delete("/providers/{provider_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_provider(provider_id: RowId, session: SessionDep, _: AdminOnly) -> None:
    # Vectors it made stay (their provider id becomes null): they still rank until embedded again.
    await delete_found(session, LLMProvider, provider_id, "provider")
