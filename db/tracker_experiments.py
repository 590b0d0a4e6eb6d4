"""A classification experiment's database side: the labelled messages it measures, and its tally written once.

Batches go one after another, so the experiment row's `classified` count records how far it has got: a batch's
write locks the row and does nothing when the count is already past the value the workflow had before the batch
(an earlier attempt wrote it and lost its answer). The tally is set from the workflow's previous one plus the
batch's, never added to the row's, so no retry counts a message twice.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import ClassificationExperiment, Message, Topic

# Known topics offered to the classifier: a prompt of a few thousand tokens at most.
MAX_TOPICS = 500


@dataclass(frozen=True)
class LabelledMessage:
    id: int
    text: str
    topic: str  # the topic it is known to have: the truth the classifier is measured against


async def locked_experiment(session: AsyncSession, experiment_id: int) -> ClassificationExperiment | None:
    return await session.get(ClassificationExperiment, experiment_id, with_for_update=True, populate_existing=True)


async def labelled_ids(session: AsyncSession, count: int, chat_id: int | None) -> list[int]:
    """Up to `count` of the newest messages with a known topic (of one chat when given)."""
    query = select(Message.id).where(Message.topic_id.is_not(None), Message.text != "")
    if chat_id is not None:
        query = query.where(Message.telegram_chat_id == chat_id)
    return list(await session.scalars(query.order_by(Message.sent_at.desc(), Message.id.desc()).limit(count)))


async def labelled(session: AsyncSession, message_ids: list[int]) -> list[LabelledMessage]:
    """The batch's messages with their topics, in the planned order; one that lost its topic meanwhile is left out."""
    rows = await session.execute(
        select(Message.id, Message.text, Topic.name)
        .join(Topic, Topic.id == Message.topic_id)
        .where(Message.id.in_(message_ids))
    )
    found = {r.id: LabelledMessage(r.id, r.text, r.name) for r in rows}
    return [found[m] for m in message_ids if m in found]


async def known_topics(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(Topic.name).order_by(Topic.name).limit(MAX_TOPICS)))
