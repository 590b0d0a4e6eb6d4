"""The tracker's LLM providers in the database: the default one a fresh deployment starts with.

Why bootstrap and not a migration: the default is a row people edit (another server, other models), built from the
deployment's settings (`OPENAI_BASE_URL`, `LONGRUN_LLM_MODEL`, `LONGRUN_EMBEDDING_MODEL`), which a migration should
not read; `python -m devstack.bootstrap` runs after the migrations in `make up`, the tests and `docker compose`.
"""

import os

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import EMBEDDING_DIMENSION, LLMProvider, ProviderKind
from settings import Settings

DEFAULT_NAME = "default"
OPENAI_URL = "https://api.openai.com/v1"


def default_key_env() -> str:
    """The variable the deployment's key is in: settings read either name."""
    if not os.environ.get("OPENAI_API_KEY") and os.environ.get("LONGRUN_OPENAI_API_KEY"):
        return "LONGRUN_OPENAI_API_KEY"
    return "OPENAI_API_KEY"


async def ensure_default_provider(session: AsyncSession, settings: Settings) -> LLMProvider | None:
    """The configured LLM as a provider, when there is none at all (one a person removed stays removed while
    they have their own). Returns the row it added."""
    if await session.scalar(select(LLMProvider.id).limit(1)) is not None:
        return None
    provider = LLMProvider(
        name=DEFAULT_NAME,
        kind=ProviderKind.openai.value,
        base_url=settings.llm_base_url or OPENAI_URL,
        api_key_env=default_key_env(),
        chat_model=settings.llm_model,
        embedding_model=settings.embedding_model,
        embedding_dimension=EMBEDDING_DIMENSION,
        active=True,
    )
    session.add(provider)
    return provider
