"""Embeddings of the tracker's messages and atoms: up to 100 of them
embedded with one provider in one request and written in one statement, returning {success, failed, skipped}.

Per item: a row already embedded, or with no text, is skipped; a row that is gone, or whose vector has another
size than the columns' 1536, has failed with its reason. A provider that fails the whole request (5xx, timeout,
rate limit) fails the activity through `llm_failure`, so Temporal retries it; the retry skips what was written. The
faults a batch's attempts met are tallied in its heartbeat and named by its result (or its failure).
"""

import asyncio

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.providers import ProviderClients
from db import tracker_embeddings
from db.models.tracker import EMBEDDING_DIMENSION, LLMProvider
from db.session import SessionFactory
from db.tracker_embeddings import EmbedKind, Pending, vector_literal
from runtime.errors import calling_llm, resumed_faults

# One embeddings request per 100 items, the batch the tracker's embedding tasks used before Longrun.
BATCH = 100


class EmbedBatchInput(BaseModel):
    ids: list[int] = Field(max_length=BATCH)
    provider_id: int


class ItemError(BaseModel):
    id: int
    error: str


class EmbedBatchResult(BaseModel):
    success: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[ItemError] = Field(default_factory=list)
    # The transient faults the batch's failed attempts met, by kind ("HTTP 503": 3).
    faults: dict[str, int] = Field(default_factory=dict)


class ListUnembeddedInput(BaseModel):
    kind: EmbedKind
    after_id: int = 0
    limit: int = 1000
    # The first page of a run also counts what waits, so the job can say how far it has got.
    count: bool = False


class UnembeddedPage(BaseModel):
    ids: list[int]
    remaining: int | None = None


class ProviderChoice(BaseModel):
    provider_id: int | None = None


class EmbeddingActivities:
    def __init__(self, sessions: SessionFactory, providers: ProviderClients) -> None:
        self._sessions = sessions
        self._providers = providers

    @activity.defn(name="tracker.embed_messages_batch")
    async def embed_messages_batch(self, inp: EmbedBatchInput) -> EmbedBatchResult:
        return await self._embed(EmbedKind.messages, inp)

    @activity.defn(name="tracker.embed_atoms_batch")
    async def embed_atoms_batch(self, inp: EmbedBatchInput) -> EmbedBatchResult:
        return await self._embed(EmbedKind.atoms, inp)

    @activity.defn(name="tracker.list_unembedded")
    async def list_unembedded(self, inp: ListUnembeddedInput) -> UnembeddedPage:
        async with self._sessions() as session:
            ids = await tracker_embeddings.unembedded_ids(session, inp.kind, inp.after_id, inp.limit)
            if not inp.count:
                return UnembeddedPage(ids=ids)
            return UnembeddedPage(ids=ids, remaining=await tracker_embeddings.count_unembedded(session, inp.kind))

    @activity.defn(name="tracker.active_provider")
    async def active_provider(self) -> ProviderChoice:
        async with self._sessions() as session:
            provider = await tracker_embeddings.active_provider(session)
        return ProviderChoice(provider_id=provider.id if provider else None)

    async def _embed(self, kind: EmbedKind, inp: EmbedBatchInput) -> EmbedBatchResult:
        result = EmbedBatchResult()
        async with self._sessions() as session:
            provider = await session.get(LLMProvider, inp.provider_id)
            if provider is None:
                raise ApplicationError(f"LLM provider {inp.provider_id} not found", non_retryable=True)
            rows = {row.id: row for row in await tracker_embeddings.pending(session, kind, inp.ids)}
        todo: list[Pending] = []
        for item_id in dict.fromkeys(inp.ids):  # an id given twice is one item
            row = rows.get(item_id)
            if row is None:
                result.failed += 1
                result.errors.append(ItemError(id=item_id, error=f"{kind.value[:-1]} {item_id} not found"))
            elif row.embedded or not row.text.strip():
                result.skipped += 1
            else:
                todo.append(row)
        if not todo:
            return result
        # The transient faults earlier attempts met, counted on: a failure names them all.
        faults = resumed_faults()
        async with calling_llm(faults):
            vectors = await self._providers.embed(provider, [row.text for row in todo])  # pyright: ignore[reportArgumentType]  # a stored LLMProvider is a ProviderLike (pyright issue 11021)
            if len(vectors) != len(todo):
                raise ApplicationError(f"the provider answered {len(vectors)} vectors for {len(todo)} texts")
            ids, kept, texts = [], [], []
            for row, vector in zip(todo, vectors, strict=True):
                if len(vector) != EMBEDDING_DIMENSION:
                    result.failed += 1
                    error = (
                        f"{provider.embedding_model} gave {len(vector)} dimensions; "
                        f"the embedding columns hold {EMBEDDING_DIMENSION}"
                    )
                    result.errors.append(ItemError(id=row.id, error=error))
                else:
                    ids.append(row.id)
                    kept.append(vector)
                    texts.append(row.text)
            if ids:
                # 150,000 numbers to text: off the event loop, which keeps heartbeating meanwhile.
                literals = await asyncio.to_thread(lambda: [vector_literal(v) for v in kept])
                async with self._sessions() as session:
                    written = await tracker_embeddings.write(session, kind, ids, literals, provider.id, texts)
                result.success += len(written)
                result.skipped += len(ids) - len(written)  # embedded by someone else since we looked
        result.faults = faults.counts
        return result
