"""The tracker's embeddings: start an embedding job over messages or atoms, and semantic search, which
ranks both by how close they are to a query's vector. Editors start jobs; everyone signed in searches."""

from typing import Annotated

import openai
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import CurrentUser, Editors, JobsDep, ProvidersDep, SessionDep, field_error
from api.fields import RowId
from api.jobs import JobStarted
from db.models.tracker import EMBEDDING_DIMENSION, LLMProvider
from db.tracker_embeddings import EmbedKind, active_provider
from db.tracker_search import AtomHit, MessageHit, similar_atoms, similar_messages
from workflows.tracker_embeddings import MAX_IDS, EmbedItemsInput, embed_job

router = APIRouter(prefix="/api/v1", tags=["tracker"])

NO_PROVIDER = "no active LLM provider: create or activate one at /api/v1/providers"
MAX_QUERY_CHARS = 2000


class EmbeddingsStart(BaseModel):
    kind: EmbedKind
    # Omitted: every message (or atom) still without a vector.
    ids: list[RowId] | None = Field(default=None, min_length=1, max_length=MAX_IDS)
    # Omitted: the active provider.
    provider_id: RowId | None = None


class SearchAnswer(BaseModel):
    query: str
    provider_id: int
    messages: list[MessageHit]
    atoms: list[AtomHit]


def no_provider() -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NO_PROVIDER)


@router.post("/embeddings", status_code=status.HTTP_202_ACCEPTED)
async def start_embeddings(body: EmbeddingsStart, session: SessionDep, who: Editors, jobs: JobsDep) -> JobStarted:
    """Embed the given ids, or everything of the kind not yet embedded (asked again while that runs: the same
    job). The provider is chosen now, so the whole job embeds with one."""
    if body.provider_id is not None:
        if await session.get(LLMProvider, body.provider_id) is None:
            raise field_error("provider_id", f"unknown provider {body.provider_id}")
        provider_id = body.provider_id
    else:
        provider = await active_provider(session)
        if provider is None:
            raise no_provider()
        provider_id = provider.id
    inp = EmbedItemsInput(kinds=[body.kind], ids=body.ids, provider_id=provider_id)
    return await jobs.launch(embed_job(inp, who.username))


@router.get("/search")
async def search(
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="what to look for, in any words")],
    session: SessionDep,
    providers: ProvidersDep,
    _: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100, description="hits of each kind")] = 10,
) -> SearchAnswer:
    query = q.strip()
    if not query:
        raise field_error("q", "must contain something to look for", where="query")
    provider = await active_provider(session)
    if provider is None:
        raise no_provider()
    try:
        [vector] = await providers.embed(provider, [query])  # pyright: ignore[reportArgumentType]  # a stored LLMProvider is a ProviderLike (pyright issue 11021)
    except openai.OpenAIError as exc:
        detail = f"the embedding provider {provider.name!r} failed: {exc}"
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail) from exc
    if len(vector) != EMBEDDING_DIMENSION:
        detail = f"provider {provider.name!r} gives {len(vector)} dimensions; the embeddings have {EMBEDDING_DIMENSION}"
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail)
    return SearchAnswer(
        query=query,
        provider_id=provider.id,
        messages=await similar_messages(session, vector, limit),
        atoms=await similar_atoms(session, vector, limit),
    )
