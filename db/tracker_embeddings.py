"""The tracker's embeddings in the database: which messages and atoms still need one, their texts, and the write
that stores a batch's vectors in one statement.

A row is embedded once: the write only fills `embedding IS NULL`, so a retried batch, or a sweep running beside a
person's job, never overwrites a vector (and reports the row as skipped instead).
"""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Text, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import Atom, LLMProvider, Message


class EmbedKind(StrEnum):
    messages = "messages"
    atoms = "atoms"


TABLES = {EmbedKind.messages: Message, EmbedKind.atoms: Atom}


@dataclass(frozen=True)
class Pending:
    id: int
    text: str
    embedded: bool


def _text(kind: EmbedKind):
    # An atom is found by what it says and what it is called: both are embedded.
    return Message.text if kind == EmbedKind.messages else Atom.title + "\n\n" + Atom.content


def _unembedded(kind: EmbedKind, after_id: int):
    table = TABLES[kind]
    where = [table.embedding.is_(None), table.id > after_id]
    if kind == EmbedKind.messages:
        # A sticker or a photo without a caption has nothing to embed; it is never offered.
        where.append(func.btrim(Message.text) != "")
    return where


async def active_provider(session: AsyncSession) -> LLMProvider | None:
    """The provider embeddings and search use unless told another: the oldest active one."""
    return await session.scalar(select(LLMProvider).where(LLMProvider.active).order_by(LLMProvider.id).limit(1))


async def unembedded_ids(session: AsyncSession, kind: EmbedKind, after_id: int, limit: int) -> list[int]:
    table = TABLES[kind]
    rows = await session.scalars(select(table.id).where(*_unembedded(kind, after_id)).order_by(table.id).limit(limit))
    return list(rows)


async def count_unembedded(session: AsyncSession, kind: EmbedKind) -> int:
    table = TABLES[kind]
    return (await session.execute(select(func.count()).select_from(table).where(*_unembedded(kind, 0)))).scalar_one()


async def pending(session: AsyncSession, kind: EmbedKind, ids: list[int]) -> list[Pending]:
    """The rows of `ids` that exist, with their text and whether they already have a vector."""
    table = TABLES[kind]
    rows = await session.execute(
        select(table.id, _text(kind).label("text"), table.embedding.is_not(None).label("embedded")).where(
            table.id.in_(ids)
        )
    )
    return [Pending(r.id, r.text or "", r.embedded) for r in rows]


def vector_literal(vector: list[float]) -> str:
    """pgvector's text form. Nine significant digits give back the model's float32 exactly."""
    return "[" + ",".join([format(x, ".9g") for x in vector]) + "]"


async def write(
    session: AsyncSession, kind: EmbedKind, ids: list[int], literals: list[str], provider_id: int, texts: list[str]
) -> set[int]:
    """Store `literals[i]`, the vector of `texts[i]`, as the vector of `ids[i]` where it has none and still says
    `texts[i]`; one statement, committed. Returns the ids written (the others had gained a vector meanwhile, or a
    message was edited while its old text was being embedded: the edit dropped its vector and the next sweep embeds
    the new text)."""
    table = TABLES[kind].__tablename__
    same_text = "AND t.text = u.src " if kind == EmbedKind.messages else ""
    statement = text(
        f"UPDATE {table} AS t SET embedding = u.v::vector, embedding_provider_id = :provider "  # noqa: S608 (fixed names)
        f"FROM unnest(:ids, :vectors, :texts) AS u(id, v, src) WHERE t.id = u.id AND t.embedding IS NULL {same_text}"
        "RETURNING t.id"
    ).bindparams(
        bindparam("ids", type_=ARRAY(BIGINT)),
        bindparam("vectors", type_=ARRAY(Text)),
        bindparam("texts", type_=ARRAY(Text)),
    )
    rows = await session.execute(statement, {"ids": ids, "vectors": literals, "texts": texts, "provider": provider_id})
    written = set(rows.scalars())
    await session.commit()
    return written
