"""Semantic search over the tracker's embeddings: messages and atoms ranked by cosine distance to a query vector.

One place for the query, so `GET /api/v1/search` and an analysis run's RAG context rank alike. Cosine distance is
what the HNSW indexes (`vector_cosine_ops`) serve, so `ORDER BY embedding <=> :query LIMIT k` uses them.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import Atom, Message


@dataclass(frozen=True)
class MessageHit:
    id: int
    telegram_chat_id: int
    text: str
    topic_id: int | None
    # 1 - cosine distance: 1.0 is the same direction, 0 unrelated.
    similarity: float


@dataclass(frozen=True)
class AtomHit:
    id: int
    topic_id: int | None
    type: str
    title: str
    content: str
    similarity: float


async def similar_messages(session: AsyncSession, vector: list[float], limit: int = 10) -> list[MessageHit]:
    distance = Message.embedding.cosine_distance(vector)
    rows = await session.execute(
        select(Message.id, Message.telegram_chat_id, Message.text, Message.topic_id, distance.label("distance"))
        .where(Message.embedding.is_not(None))
        .order_by(distance, Message.id)
        .limit(limit)
    )
    return [MessageHit(r.id, r.telegram_chat_id, r.text, r.topic_id, 1.0 - r.distance) for r in rows]


async def similar_atoms(session: AsyncSession, vector: list[float], limit: int = 5) -> list[AtomHit]:
    distance = Atom.embedding.cosine_distance(vector)
    rows = await session.execute(
        select(Atom.id, Atom.topic_id, Atom.type, Atom.title, Atom.content, distance.label("distance"))
        .where(Atom.embedding.is_not(None))
        .order_by(distance, Atom.id)
        .limit(limit)
    )
    return [AtomHit(r.id, r.topic_id, r.type, r.title, r.content, 1.0 - r.distance) for r in rows]
