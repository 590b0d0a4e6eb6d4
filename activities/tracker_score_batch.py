"""Scoring a batch of saved messages inside the caller's transaction: what the webhook chain's scoring step and an
ingestion page both do, so the two cannot drift apart.

Only messages with no score yet are scored, and `write_score` writes only where none is: a batch scored twice (a
retried step, a message both delivered and ingested) keeps its first scores. The caller commits.
"""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from activities.tracker_scoring import ScoringInput, score, words
from db import tracker_messages


async def score_unscored(session: AsyncSession, message_ids: list[int], now: datetime) -> list[int]:
    """Score those of these messages that have no score; answers the ids this call scored."""
    pending = await tracker_messages.unscored(session, message_ids, now)
    if not pending:
        return []
    vocabulary = await topic_vocabulary(session)
    newly = []
    for message in pending:
        result = score(
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
        )
        if await tracker_messages.write_score(
            session, message.message_id, result.importance_score, result.noise_class.value, result.noise_factors, now
        ):
            newly.append(message.message_id)
    return newly


async def topic_vocabulary(session: AsyncSession) -> frozenset[str]:
    """The words of known topics' names that count toward a message's topic association."""
    names = await tracker_messages.topic_names(session)
    return frozenset(w for name in names for w in words(name) if len(w) > 3)
