"""Knowledge extraction: claim a batch of a chat's messages, ask
the active `knowledge_extractor` agent for topics and atoms in structured output, and write them linked to their
messages. Messages are numbered in the prompt; the answer refers to them by number.
"""

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import activity

from clients.llm import LLMClient
from db import tracker_knowledge
from db.base import utcnow
from db.events import EventName, JobEvents, publish
from db.models.tracker import AgentRole, AtomType
from db.session import SessionFactory
from db.tracker_knowledge import AtomDraft, ClaimedMessage, TopicDraft
from runtime.errors import Faults, calling_llm, resumed_faults
from runtime.heartbeat import heartbeating

# What a person sees first of a long message is enough to place it; the prompt stays within a model's context.
MESSAGE_CHARS = 1000


class ExtractInput(BaseModel):
    chat_id: int
    # Names this batch: `<run id>:<batch number>`, so a retried attempt finds the messages its first attempt claimed.
    claim: str
    batch: int = 50
    # Fewer than this waiting: nothing is claimed (10, the tracker's threshold before Longrun).
    minimum: int = 10
    # The messages sent within this many hours before the claim; None: a period (`since`, `until`) or any time.
    window_hours: float | None = 24.0
    # A person's extraction over a period of the chat: sent at or after `since`, before `until`.
    since: datetime | None = None
    until: datetime | None = None
    # The job's events: `knowledge.extraction_started` gets this number and `_completed` the next one.
    job_id: str = ""
    event_seq: int = 1


class ExtractOutcome(BaseModel):
    claimed: int = 0
    topics: int = 0
    atoms: int = 0
    messages_with_topic: int = 0
    # No active knowledge_extractor config: nothing was claimed (or what the claim held should be given back).
    no_config: bool = False
    # The transient faults the batch's failed attempts met, by kind ("HTTP 503": 3).
    faults: dict[str, int] = Field(default_factory=dict)


def period(inp: ExtractInput, now: datetime) -> tuple[datetime | None, datetime | None]:
    """The (since, until) of the messages a batch may claim."""
    if inp.since is None and inp.window_hours is not None:
        return now - timedelta(hours=inp.window_hours), inp.until
    return inp.since, inp.until


class ReleaseInput(BaseModel):
    claim: str
    chat_id: int = 0
    job_id: str = ""
    # The number `knowledge.extraction_started` got, or would have: `_failed` gets the next one either way, so a
    # batch's events are numbered the same however often its steps are retried.
    event_seq: int = 1
    reason: str = ""


class MessageRef(BaseModel):
    index: int = Field(description="the number of a message in the list")


class ExtractedAtom(BaseModel):
    type: AtomType
    title: str
    content: str
    confidence: float = Field(ge=0.0, le=1.0)
    messages: list[MessageRef]


class ExtractedTopic(BaseModel):
    name: str
    description: str
    messages: list[MessageRef]
    atoms: list[ExtractedAtom]


class KnowledgeExtraction(BaseModel):
    topics: list[ExtractedTopic]


def extraction_request(chat_id: int, batch: list[ClaimedMessage]) -> str:
    lines = [
        f"Messages of Telegram chat {chat_id}. Group them into topics and extract knowledge atoms "
        "(problems, solutions, decisions, questions, insights); refer to messages by their number.",
    ]
    for number, message in enumerate(batch, start=1):
        lines.append(f"[{number}] {' '.join(message.text.split())[:MESSAGE_CHARS]}")
    return "\n".join(lines)


def drafts(extraction: KnowledgeExtraction, batch: list[ClaimedMessage]) -> list[TopicDraft]:
    """The answer with message numbers turned into ids; numbers outside the batch are dropped."""

    def ids(refs: list[MessageRef]) -> list[int]:
        return [batch[r.index - 1].id for r in refs if 1 <= r.index <= len(batch)]

    return [
        TopicDraft(
            name=topic.name,
            description=topic.description,
            message_ids=ids(topic.messages),
            atoms=[AtomDraft(a.type.value, a.title, a.content, a.confidence, ids(a.messages)) for a in topic.atoms],
        )
        for topic in extraction.topics
    ]


class KnowledgeActivities:
    def __init__(
        self, sessions: SessionFactory, llm: LLMClient, concurrency: int = 2, gather_seconds: float = 0.0
    ) -> None:
        self._sessions = sessions
        self._llm = llm
        self._slots = asyncio.Semaphore(concurrency)
        self._gather_seconds = gather_seconds

    @activity.defn(name="tracker.extract_batch")
    async def extract_batch(self, inp: ExtractInput) -> ExtractOutcome:
        # The transient faults earlier attempts met, heartbeated all along (also while this one waits for a slot),
        # so that a failure names them all.
        faults = resumed_faults()
        # The claim is made once a slot is free: what the chat gathered meanwhile joins this batch.
        async with heartbeating(lambda: faults):
            if activity.info().attempt == 1:
                await self._gather(inp)
            await self._slots.acquire()
        try:
            return await self._extract(inp, faults)
        finally:
            self._slots.release()

    async def _gather(self, inp: ExtractInput) -> None:
        """With less than a full batch waiting, let more gather first (holding no slot): a batch costs the same
        Temporal round trips, statements and LLM call overhead however few messages it holds, and no one waits on
        extraction the way they wait on a score. (A retry claims at once: its batch may be claimed already.)"""
        if self._gather_seconds <= 0:
            return
        since, until = period(inp, utcnow())
        async with self._sessions() as session:
            waiting = await tracker_knowledge.waiting(session, inp.chat_id, since, inp.batch, until)
        if waiting < inp.batch:
            await asyncio.sleep(self._gather_seconds)

    async def _extract(self, inp: ExtractInput, faults: Faults) -> ExtractOutcome:
        now = utcnow()
        async with self._sessions() as session:
            config = await tracker_knowledge.active_config(session, AgentRole.knowledge_extractor)
            if config is None:
                return ExtractOutcome(no_config=True)
            batch = await tracker_knowledge.claimed(session, inp.claim)
            if not batch:
                since, until = period(inp, now)
                batch = await tracker_knowledge.claim(
                    session, inp.claim, inp.chat_id, since, inp.batch, inp.minimum, now, until
                )
        if not batch:
            return ExtractOutcome()
        events = JobEvents(inp.job_id, owner=None, next_seq=inp.event_seq)
        topics: list[TopicDraft] = []
        # An earlier attempt wrote this batch and then lost its worker: the write below answers what it wrote.
        if not all(m.extracted for m in batch):
            # Published again by a retry with the same number: the API delivers a number once.
            async with self._sessions() as session:
                await events.publish(
                    session,
                    EventName.knowledge_extraction_started,
                    {"chat_id": inp.chat_id, "messages": len(batch)},
                )
                await session.commit()
            async with calling_llm(faults):
                extraction = await self._llm.parse(
                    config.system_prompt,
                    extraction_request(inp.chat_id, batch),
                    KnowledgeExtraction,
                    model=config.model,
                )
            topics = drafts(extraction, batch)
        async with self._sessions() as session:
            events.next_seq = inp.event_seq + 1

            async def announce(session, written) -> None:
                await events.publish(
                    session,
                    EventName.knowledge_extraction_completed,
                    {"chat_id": inp.chat_id, "messages": len(batch), "topics": written.topics, "atoms": written.atoms},
                )

            written = await tracker_knowledge.write(session, inp.claim, topics, utcnow(), announce)
        return ExtractOutcome(
            claimed=len(batch),
            topics=written.topics,
            atoms=written.atoms,
            messages_with_topic=written.messages_with_topic,
            faults=faults.counts,
        )

    @activity.defn(name="tracker.release_claim")
    async def release_claim(self, inp: ReleaseInput) -> int:
        """Give a failed batch's messages back, and tell clients the extraction failed, in one transaction."""
        async with self._sessions() as session:
            released = await tracker_knowledge.release(session, inp.claim)
            if inp.job_id:
                await publish(
                    session,
                    EventName.knowledge_extraction_failed,
                    {"chat_id": inp.chat_id, "messages": released, "error": inp.reason[:500]},
                    owner=None,
                    job_id=inp.job_id,
                    seq=inp.event_seq + 1,
                )
            await session.commit()
        return released
