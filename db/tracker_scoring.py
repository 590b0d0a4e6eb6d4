"""Scoring stored messages (the webhook inbox, ingestion and ScoreUnscoredMessages all score through it): read what the
factors need, score, write each score once, and tell live clients (`message_scored` per message, `batch_scored`
per batch) in the same transaction as the write, so a client never hears of a score that was rolled back.
"""

from collections import Counter
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from db import tracker_messages
from db.events import EventName, publish_many
from domain.tracker_scoring import ScoringInput, score, words

# Whose events these are: no one's in particular (every signed-in client of the tracker sees them).
EVERYONE = None


class ScoredMessage(BaseModel):
    message_id: int
    chat_id: int
    importance_score: float
    noise_class: str


async def topic_vocabulary(session: AsyncSession) -> frozenset[str]:
    names = await tracker_messages.topic_names(session)
    return frozenset(w for name in names for w in words(name) if len(w) > 3)


async def score_stored(session: AsyncSession, message_ids: list[int], now: datetime) -> list[ScoredMessage]:
    """Score those of these messages that have no score yet and publish the events; the caller commits. Answers
    the messages this call scored (a message another writer scored first is not among them)."""
    pending = await tracker_messages.unscored(session, message_ids, now)
    if not pending:
        return []
    vocabulary = await topic_vocabulary(session)
    results = {}
    for message in pending:
        results[message.message_id] = (
            message,
            score(
                ScoringInput(
                    text=message.text,
                    sent_at=message.sent_at,
                    now=now,
                    author_messages_30d=message.author_messages_30d,
                    author_messages_last_hour=message.author_messages_last_hour,
                    duplicates_recent=message.duplicates_recent,
                    has_topic=message.has_topic,
                    topic_words=vocabulary,
                )
            ),
        )
    written = await tracker_messages.write_scores(
        session,
        [(i, r.importance_score, r.noise_class.value, r.noise_factors) for i, (_, r) in results.items()],
        now,
    )
    scored = [
        ScoredMessage(
            message_id=i,
            chat_id=results[i][0].chat_id,
            importance_score=results[i][1].importance_score,
            noise_class=results[i][1].noise_class.value,
        )
        for i in written
    ]
    await announce(session, scored)
    return scored


async def announce(session: AsyncSession, scored: list[ScoredMessage]) -> None:
    if not scored:
        return
    classes = Counter(s.noise_class for s in scored)
    await publish_many(
        session,
        [(EventName.message_scored, s.model_dump()) for s in scored]
        + [
            (
                EventName.batch_scored,
                {"count": len(scored), "chats": sorted({s.chat_id for s in scored})[:50], **classes},
            )
        ],
        owner=EVERYONE,
    )
