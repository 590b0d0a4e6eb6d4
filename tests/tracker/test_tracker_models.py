"""The tracker's tables as migration 0006 made them: rows written through the models read back whole, embeddings
included, and the HNSW index answers a nearest-neighbour query."""

import random

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from db.base import utcnow
from db.models.tracker import (
    EMBEDDING_DIMENSION,
    Atom,
    AtomMessage,
    AtomType,
    Message,
    NoiseClass,
    Topic,
    UserProfile,
)


def unit(axis: int, tilt: float = 0.0) -> list[float]:
    vector = [0.0] * EMBEDDING_DIMENSION
    vector[axis] = 1.0
    vector[(axis + 1) % EMBEDDING_DIMENSION] = tilt
    return vector


async def test_tracker_rows_read_back_with_their_vectors(database):
    sessions = async_sessionmaker(database, expire_on_commit=False)
    chat = -random.randrange(10**12)
    async with sessions() as session:
        profile = UserProfile(telegram_user_id=random.randrange(10**12), first_name="Ада", username="ada")
        topic = Topic(name=f"billing {chat}", description="payments and invoices")
        session.add_all([profile, topic])
        await session.flush()
        messages = [
            Message(
                telegram_chat_id=chat,
                telegram_message_id=n,
                user_profile_id=profile.id,
                text=f"message {n}",
                sent_at=utcnow(),
                importance_score=0.75,
                noise_class=NoiseClass.signal.value,
                noise_factors={"content_quality": 0.9, "freshness": 1.0},
                topic_id=topic.id,
                embedding=unit(n, tilt=0.1 * n),
            )
            for n in range(3)
        ]
        atom = Atom(topic_id=topic.id, type=AtomType.decision.value, title="pay on the 5th", confidence=0.8)
        session.add_all([*messages, atom])
        await session.flush()
        session.add(AtomMessage(atom_id=atom.id, message_id=messages[1].id))
        await session.commit()

    async with sessions() as session:
        read = (
            await session.scalars(select(Message).where(Message.telegram_chat_id == chat).order_by(Message.id))
        ).all()
        assert [m.text for m in read] == ["message 0", "message 1", "message 2"]
        assert read[1].noise_factors == {"content_quality": 0.9, "freshness": 1.0}
        assert read[1].noise_class == NoiseClass.signal
        assert len(read[2].embedding) == EMBEDDING_DIMENSION
        assert read[2].embedding[2] == 1.0 and abs(read[2].embedding[3] - 0.2) < 1e-6
        assert (await session.get(UserProfile, read[0].user_profile_id)).first_name == "Ада"
        linked = await session.scalars(select(AtomMessage.message_id).where(AtomMessage.atom_id == atom.id))
        assert list(linked) == [messages[1].id]

        nearest = await session.scalar(
            select(Message.telegram_message_id)
            .where(Message.telegram_chat_id == chat)
            .order_by(Message.embedding.cosine_distance(unit(1, tilt=0.05)))
            .limit(1)
        )
        assert nearest == 1
