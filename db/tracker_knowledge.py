"""Knowledge extraction's database side: claim a chat's batch, and write what the LLM found in it.

At most once per message: the claim picks messages no extraction has taken (`extraction_claim IS NULL`) and takes
them in the same statement, so two extractions can never hold one message; a retried attempt of the same batch
finds its claim again by name. The write is one transaction that first locks the batch's messages and does nothing
if they are already extracted, so a retried write adds no second copy of any atom or link. Topics, found by name,
are upserted just before it: a retry finds the same ones, and a write that rolls back leaves at most a topic without
atoms, which the next batch naming it fills.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import BigInteger, Integer, column, func, select, update, values
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import AgentConfig, AgentRole, Atom, AtomMessage, Message, Topic
from db.tracker_messages import unextracted


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    text: str
    sent_at: datetime
    extracted: bool


@dataclass
class AtomDraft:
    type: str
    title: str
    content: str
    confidence: float | None
    message_ids: list[int]


@dataclass
class TopicDraft:
    name: str
    description: str
    message_ids: list[int]
    atoms: list[AtomDraft] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    topics: int
    atoms: int
    # Messages that got a topic; the rest of the batch is marked extracted without one.
    messages_with_topic: int


async def active_config(session: AsyncSession, role: AgentRole) -> AgentConfig | None:
    return await session.scalar(select(AgentConfig).where(AgentConfig.role == role.value, AgentConfig.active))


async def claimed(session: AsyncSession, claim: str) -> list[ClaimedMessage]:
    """The messages a claim holds, in the order they were offered to the LLM."""
    rows = await session.execute(
        select(Message.id, Message.text, Message.sent_at, Message.extracted_at)
        .where(Message.extraction_claim == claim)
        .order_by(Message.sent_at, Message.id)
    )
    return [ClaimedMessage(r.id, r.text, r.sent_at, r.extracted_at is not None) for r in rows]


async def waiting(
    session: AsyncSession, chat_id: int, since: datetime | None, limit: int, until: datetime | None = None
) -> int:
    """How many of a chat's messages wait for extraction (as `claim` would pick them), counted up to `limit`."""
    found = select(Message.id).where(*unextracted([chat_id], since, until)).limit(limit).subquery()
    return (await session.execute(select(func.count()).select_from(found))).scalar_one()


async def claim(
    session: AsyncSession,
    claim: str,
    chat_id: int,
    since: datetime | None,
    batch: int,
    minimum: int,
    now: datetime,
    until: datetime | None = None,
) -> list[ClaimedMessage]:
    """Take up to `batch` of a chat's unextracted messages sent in the period for `claim`, or none when fewer than
    `minimum` wait.

    One statement picks and takes them; the messages it picks are the ones `chats_ready` counts (`unextracted`)."""
    candidates = (
        select(Message.id)
        .where(*unextracted([chat_id], since, until))
        .order_by(Message.sent_at, Message.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .cte("candidates")
    )
    enough = select(func.count()).select_from(candidates).scalar_subquery() >= minimum
    await session.execute(
        update(Message)
        .where(Message.id == candidates.c.id, enough)
        .values(extraction_claim=claim, extraction_claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return await claimed(session, claim)


async def release(session: AsyncSession, claim: str) -> int:
    """Give back what a claim holds but never extracted (its extraction failed for good): offered again later.
    The caller commits (with the event that says so)."""
    released = await session.scalars(
        update(Message)
        .where(Message.extraction_claim == claim, Message.extracted_at.is_(None))
        .values(extraction_claim=None, extraction_claimed_at=None)
        .returning(Message.id)
    )
    return len(list(released))


async def write(
    session: AsyncSession,
    claim: str,
    topics: list[TopicDraft],
    now: datetime,
    announce: Callable[[AsyncSession, Written], Awaitable[None]] | None = None,
) -> Written:
    """Topics (found by name or made), atoms and their links for a claimed batch, and each message's topic;
    `announce` publishes what was written in the same transaction (not called when an earlier attempt wrote it)."""
    # Topics are shared by every chat: upserted and committed on their own, their rows are locked for one statement,
    # not for a whole batch's write that other chats' extractions naming the same topics would queue behind.
    topic_id_of = await _topics(session, topics, now)
    await session.commit()
    held = set(
        await session.scalars(
            select(Message.id)
            .where(Message.extraction_claim == claim, Message.extracted_at.is_(None))
            .with_for_update()
        )
    )
    if not held:
        await session.rollback()
        return await _written(session, claim)
    topic_of: dict[int, int] = {}
    topic_ids: set[int] = set()
    atoms: list[dict] = []
    atom_links: list[list[int]] = []  # the messages of each atom, in `atoms`' order
    for draft in topics:
        topic_id = topic_id_of[topic_name(draft.name)]
        topic_ids.add(topic_id)
        for message_id in draft.message_ids:
            if message_id in held:
                topic_of.setdefault(message_id, topic_id)
        for atom in draft.atoms:
            atoms.append(
                {
                    "topic_id": topic_id,
                    "type": atom.type,
                    "title": atom.title[:500],
                    "content": atom.content,
                    "confidence": atom.confidence,
                    "extraction_claim": claim,
                    "created_at": now,
                }
            )
            atom_links.append([m for m in dict.fromkeys(atom.message_ids or draft.message_ids) if m in held])
    if atoms:
        atom_ids = await session.scalars(insert(Atom).returning(Atom.id, sort_by_parameter_order=True), atoms)
        links = [
            {"atom_id": atom_id, "message_id": m}
            for atom_id, linked in zip(atom_ids, atom_links, strict=True)
            for m in linked
        ]
        if links:
            await session.execute(insert(AtomMessage), links)
    # One statement and one new row version per message (topic and extracted mark together): every version of a
    # message costs an entry in each of its indexes.
    given = values(column("id", BigInteger), column("topic_id", Integer), name="given").data(
        [(m, topic_of.get(m)) for m in sorted(held)]
    )
    await session.execute(
        update(Message).where(Message.id == given.c.id).values(topic_id=given.c.topic_id, extracted_at=now)
    )
    written = Written(topics=len(topic_ids), atoms=len(atoms), messages_with_topic=len(topic_of))
    if announce is not None:
        await announce(session, written)
    await session.commit()
    return written


def topic_name(name: str) -> str:
    return " ".join(name.split())[:200] or "Untitled"


async def _topics(session: AsyncSession, drafts: list[TopicDraft], now: datetime) -> dict[str, int]:
    """Each draft's topic id by name, the topic found or made. Rows go in name order: two extractions naming the
    same topics lock them in the same order and never deadlock."""
    first = {}
    for draft in drafts:
        first.setdefault(topic_name(draft.name), draft)
    if not first:
        return {}
    rows = await session.execute(
        insert(Topic)
        .values(
            [
                {"name": name, "description": first[name].description, "created_at": now, "updated_at": now}
                for name in sorted(first)
            ]
        )
        # Touching an existing topic makes RETURNING answer its id, and keeps it in the scoring vocabulary.
        .on_conflict_do_update(index_elements=["name"], set_={"updated_at": now})
        .returning(Topic.name, Topic.id)
    )
    return dict(rows.tuples().all())


async def _written(session: AsyncSession, claim: str) -> Written:
    """What an earlier attempt wrote for this claim."""
    atoms = (await session.execute(select(func.count()).where(Atom.extraction_claim == claim))).scalar_one()
    row = (
        await session.execute(
            select(func.count(func.distinct(Message.topic_id)), func.count(Message.topic_id)).where(
                Message.extraction_claim == claim
            )
        )
    ).one()
    return Written(topics=row[0], atoms=atoms, messages_with_topic=row[1])
