"""The tracker's messages: saving one from a stored update (with its author's profile), what scoring needs and its
result, and telling which chats have gathered enough messages for knowledge extraction.

Each write is guarded so that doing it again changes nothing: a message is keyed by (chat, message id), the update
is marked saved in the same transaction, and a score is written only where none is.
"""

from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    String,
    Text,
    case,
    column,
    exists,
    func,
    null,
    select,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.tracker import AgentConfig, AgentRole, Message, MessageSource, TelegramUpdate, Topic, UserProfile
from domain.telegram_bot_types import Message as BotMessage
from domain.telegram_bot_types import Update

# Topic names whose words count toward a message's topic association (the most recently used ones).
TOPIC_VOCABULARY = 500


class SavedMessage(BaseModel):
    update_id: int
    # None: the update carries no message the tracker keeps (an edit, a callback...).
    message_id: int | None = None
    chat_id: int | None = None
    profile_id: int | None = None
    # The author's avatar has not been looked for yet.
    needs_avatar: bool = False


def unextracted(chat_ids: list[int] | None, since: datetime | None, until: datetime | None = None):
    """Messages of these chats (None: of every chat), sent since `since` and before `until` (None: whenever), that
    no extraction has taken or is taking."""
    chats = () if chat_ids is None else (Message.telegram_chat_id.in_(chat_ids),)
    period = (
        *(() if since is None else (Message.sent_at >= since,)),
        *(() if until is None else (Message.sent_at < until,)),
    )
    return (
        *chats,
        Message.topic_id.is_(None),
        Message.extracted_at.is_(None),
        Message.extraction_claim.is_(None),
        *period,
    )


async def save_update(session: AsyncSession, update_id: int, now: datetime) -> SavedMessage | None:
    """Save the message of one stored update and its author's profile; None when no such update is stored."""
    stored = await session.get(TelegramUpdate, update_id, with_for_update=True)
    if stored is None:
        return None
    batch = await save_updates(session, [stored], now)
    await session.commit()
    saved = SavedMessage(update_id=update_id)
    if batch.message_ids:
        saved.message_id = batch.message_ids[0]
        saved.chat_id = batch.chat_of[saved.message_id]
        saved.profile_id = batch.avatar_profiles[0] if batch.avatar_profiles else None
        saved.needs_avatar = bool(batch.avatar_profiles)
    return saved


class SavedBatch(BaseModel):
    """What saving a batch of stored updates did (the caller commits)."""

    updates: int = 0
    # The batch's messages (new, or found saved by an earlier delivery of the same Telegram message), by id.
    message_ids: list[int] = []
    chat_of: dict[int, int] = {}
    # Profiles whose avatar has not been looked for yet.
    avatar_profiles: list[int] = []
    # The batch's messages an edit changed (also among `message_ids`), with the edit's time.
    edited: dict[int, datetime] = {}


class Edit(BaseModel):
    """A message as an `edited_message` (or `edited_channel_post`) update gives it."""

    update_id: int
    chat_id: int
    message_id: int
    text: str
    edited_at: datetime

    @property
    def order(self) -> tuple[datetime, int]:
        # Telegram's edit_date is in seconds: of two edits in one second, the later update is the later edit.
        return self.edited_at, self.update_id


async def save_updates(session: AsyncSession, stored: list[TelegramUpdate], now: datetime) -> SavedBatch:
    """Save the messages of these stored (and locked) updates with their authors' profiles, apply their edits, and
    mark the updates saved: a handful of statements for the whole batch, whatever its size.

    An edit of a message the tracker never saw (its original lost, set aside, or still to come) saves the message
    as edited: the edit carries the whole message, and an original arriving after it then finds it saved and
    changes nothing, so the text kept is the latest whatever order the two come in."""
    batch = SavedBatch(updates=len(stored))
    parsed = [(u.update_id, Update.model_validate(u.payload)) for u in stored]
    messages = [m for _, p in parsed if (m := p.tracked_message) is not None]
    edited = [(update_id, m) for update_id, p in parsed if (m := p.edit) is not None]
    every = messages + [m for _, m in edited]
    if every:
        # Latest first: a user's names follow their latest message.
        profiles = await upsert_profiles(session, [m.from_ for m in reversed(every) if m.from_ is not None], now)
        new = [_new_message(m) for m in every]
        by_author = {author: profile for author, (profile, _) in profiles.items()}
        await insert_messages(session, new, by_author, MessageSource.webhook, now)
        changed = await apply_edits(session, [_edit(update_id, m) for update_id, m in edited])
        # The batch's new messages whoever inserted them: a repeat of a Telegram message found saved counts as
        # saved. An edit counts only when it changed its message (an older edit than the one kept does not).
        keys = tuple_(Message.telegram_chat_id, Message.telegram_message_id)
        found = await session.execute(
            select(Message.id, Message.telegram_chat_id).where(keys.in_([(m.chat.id, m.message_id) for m in messages]))
        )
        batch.chat_of = {message_id: chat_id for message_id, chat_id in found}
        batch.chat_of.update({message_id: chat_id for message_id, (chat_id, _) in changed.items()})
        batch.edited = {message_id: at for message_id, (_, at) in changed.items()}
        batch.message_ids = sorted(batch.chat_of)
        batch.avatar_profiles = sorted({pid for pid, needs in profiles.values() if needs})
    await session.execute(
        update(TelegramUpdate).where(TelegramUpdate.update_id.in_([u.update_id for u in stored])).values(saved_at=now)
    )
    return batch


def _new_message(m: BotMessage) -> "NewMessage":
    return NewMessage(
        chat_id=m.chat.id,
        message_id=m.message_id,
        text=m.content,
        sent_at=m.sent_at,
        author_id=m.from_.id if m.from_ is not None else None,
    )


def _edit(update_id: int, m: BotMessage) -> Edit:
    # An edit without its edit_date (Telegram always sends one) is as old as the message: any dated edit is newer.
    return Edit(
        update_id=update_id,
        chat_id=m.chat.id,
        message_id=m.message_id,
        text=m.content,
        edited_at=m.edited_at or m.sent_at,
    )


async def apply_edits(session: AsyncSession, edits: list[Edit]) -> dict[int, tuple[int, datetime]]:
    """Give each edited (and saved) message the text of its newest edit, where that edit is newer than the one it
    has; answers {message id: (chat, edit time)} of the messages changed. A changed text unscores the message and
    drops its vector (the caller scores it again; the embedding sweep embeds it again); an edit that leaves the
    text as it was (Telegram reports edits of a caption's entities or a link preview alike) only records its time.

    The messages are locked while their edits are decided: two takes editing one message wait for each other, and
    the second decides on what the first wrote."""
    newest: dict[tuple[int, int], Edit] = {}
    for e in edits:
        key = (e.chat_id, e.message_id)
        if key not in newest or e.order > newest[key].order:
            newest[key] = e
    if not newest:
        return {}
    keys = tuple_(Message.telegram_chat_id, Message.telegram_message_id)
    rows = await session.execute(
        select(
            Message.id,
            Message.telegram_chat_id,
            Message.telegram_message_id,
            Message.text,
            Message.edited_at,
            Message.edit_update_id,
        )
        .where(keys.in_(list(newest)))
        .order_by(Message.id)
        .with_for_update()
    )
    changes = []
    for row in rows:
        e = newest[(row.telegram_chat_id, row.telegram_message_id)]
        if row.edited_at is not None and (row.edited_at, row.edit_update_id or 0) >= e.order:
            continue
        changes.append((row.id, row.telegram_chat_id, e.text, e.edited_at, e.update_id, row.text != e.text))
    if not changes:
        return {}
    given = values(
        column("id", BigInteger),
        column("chat_id", BigInteger),
        column("text", Text),
        column("edited_at", DateTime(timezone=True)),
        column("update_id", BigInteger),
        column("changed", Boolean),
        name="given",
    ).data(changes)

    def unless_changed(col):
        return case((given.c.changed, null()), else_=col)

    await session.execute(
        update(Message)
        .where(Message.id == given.c.id)
        .values(
            text=given.c.text,
            edited_at=given.c.edited_at,
            edit_update_id=given.c.update_id,
            importance_score=unless_changed(Message.importance_score),
            noise_class=unless_changed(Message.noise_class),
            noise_factors=unless_changed(Message.noise_factors),
            scored_at=unless_changed(Message.scored_at),
            embedding=unless_changed(Message.embedding),
            embedding_provider_id=unless_changed(Message.embedding_provider_id),
        )
        .execution_options(synchronize_session=False)
    )
    return {message_id: (chat_id, at) for message_id, chat_id, _, at, _, _ in changes}


class Author(Protocol):
    """A message's author as both Telegram sources give one: a Bot API `User`, an ingested `ChatAuthor`."""

    id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None
    is_bot: bool


class NewMessage(BaseModel):
    """A message to keep, with the Telegram id of its author (None: a channel's post)."""

    chat_id: int
    message_id: int
    text: str
    sent_at: datetime
    author_id: int | None = None


async def upsert_profiles(session: AsyncSession, authors: list[Author], now: datetime) -> dict[int, tuple[int, bool]]:
    """Each author's profile, created or given the names of `authors` (the first of a user counts: pass the latest
    message's first); answers {telegram user id: (profile id, avatar still to look for)}."""
    latest: dict[int, dict] = {}
    for author in authors:
        latest.setdefault(
            author.id,
            {
                "first_name": (author.first_name or "")[:256],
                "last_name": author.last_name and author.last_name[:256],
                "username": author.username and author.username[:64],
                "language_code": author.language_code and author.language_code[:16],
                "is_bot": bool(author.is_bot),
            },
        )
    if not latest:
        return {}
    stmt = insert(UserProfile).values(
        [{"telegram_user_id": uid, "created_at": now, "updated_at": now, **names} for uid, names in latest.items()]
    )
    rows = await session.execute(
        # A user's names change; the profile follows the latest message.
        stmt.on_conflict_do_update(
            index_elements=["telegram_user_id"],
            set_={name: stmt.excluded[name] for name in (*next(iter(latest.values())), "updated_at")},
        ).returning(UserProfile.id, UserProfile.telegram_user_id, UserProfile.avatar_checked_at, UserProfile.is_bot)
    )
    return {row.telegram_user_id: (row.id, row.avatar_checked_at is None and not row.is_bot) for row in rows}


async def insert_messages(
    session: AsyncSession, messages: list[NewMessage], profiles: dict[int, int], source: MessageSource, now: datetime
) -> dict[tuple[int, int], int]:
    """Insert the messages not stored yet (keyed by chat and message id); answers {(chat, message id): row id} of
    those this call inserted, so what is missing from it was there already. `profiles`: {telegram user id: profile}."""
    if not messages:
        return {}
    rows = [
        {
            "telegram_chat_id": m.chat_id,
            "telegram_message_id": m.message_id,
            "user_profile_id": profiles.get(m.author_id) if m.author_id is not None else None,
            "text": m.text,
            "sent_at": m.sent_at,
            "source": source.value,
            "created_at": now,
        }
        for m in messages
    ]
    inserted = await session.execute(
        insert(Message)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["telegram_chat_id", "telegram_message_id"])
        .returning(Message.id, Message.telegram_chat_id, Message.telegram_message_id)
    )
    return {(row.telegram_chat_id, row.telegram_message_id): row.id for row in inserted}


async def awaiting_avatar(session: AsyncSession, limit: int) -> list[int]:
    """Profiles whose avatar nobody has looked for (a lookup that failed, or whose list was lost), oldest first."""
    found = await session.scalars(
        select(UserProfile.id)
        .where(UserProfile.avatar_checked_at.is_(None), UserProfile.is_bot.is_(False))
        .order_by(UserProfile.id)
        .limit(limit)
    )
    return list(found)


class Unscored(BaseModel):
    """An unscored message with what scoring needs to know about its chat and author."""

    message_id: int
    chat_id: int
    text: str
    sent_at: datetime
    has_topic: bool
    author_messages_30d: int = 0
    author_messages_last_hour: int = 0
    # Messages of the last day in the chat with this text, this one excluded.
    duplicates_recent: int = 0


async def unscored(session: AsyncSession, message_ids: list[int], now: datetime) -> list[Unscored]:
    """Those of these messages with no score yet, each with its author's activity and its repeats in the chat."""
    rows = (
        await session.execute(
            select(Message.id, Message.telegram_chat_id, Message.user_profile_id, Message.text)
            .add_columns(Message.sent_at, Message.topic_id)
            .where(Message.id.in_(message_ids), Message.importance_score.is_(None))
        )
    ).all()
    if not rows:
        return []
    activity = await _author_activity(session, rows, now)
    duplicates = await _duplicates(session, rows, now)
    found = []
    for row in rows:
        month, hour = activity.get((row.telegram_chat_id, row.user_profile_id), (0, 0))
        found.append(
            Unscored(
                message_id=row.id,
                chat_id=row.telegram_chat_id,
                text=row.text,
                sent_at=row.sent_at,
                has_topic=row.topic_id is not None,
                author_messages_30d=month,
                author_messages_last_hour=hour,
                duplicates_recent=max(duplicates.get((row.telegram_chat_id, row.text), 1) - 1, 0),
            )
        )
    return found


async def unscored_ids(session: AsyncSession, limit: int) -> list[int]:
    """The oldest messages with no score, locked for the caller's transaction; rows another scorer holds are
    passed over, so two sweeps never score the same message."""
    found = await session.scalars(
        select(Message.id)
        .where(Message.importance_score.is_(None))
        .order_by(Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(found)


async def write_scores(session: AsyncSession, written: list[tuple[int, float, str, dict]], now: datetime) -> list[int]:
    """Write (id, importance_score, noise_class, noise_factors) to each message that has no score yet, in one
    statement (the caller commits); answers the ids it wrote, so a message is scored by the first writer only."""
    if not written:
        return []
    given = values(
        column("id", BigInteger),
        column("importance_score", Float),
        column("noise_class", String),
        column("noise_factors", JSONB),
        name="given",
    ).data(written)
    ids = await session.scalars(
        update(Message)
        .where(Message.id == given.c.id, Message.importance_score.is_(None))
        .values(
            importance_score=given.c.importance_score,
            noise_class=given.c.noise_class,
            noise_factors=given.c.noise_factors,
            scored_at=now,
        )
        .returning(Message.id)
    )
    return sorted(ids)


async def scores(session: AsyncSession, message_ids: list[int]) -> list[tuple[int, int, float, str]]:
    """(id, chat, importance_score, noise_class) of those of these messages that have a score."""
    rows = await session.execute(
        select(Message.id, Message.telegram_chat_id, Message.importance_score, Message.noise_class).where(
            Message.id.in_(message_ids), Message.importance_score.is_not(None)
        )
    )
    # Scoring writes score and class together; the None checks only tell the type checker what the WHERE said.
    return [(i, chat, score, kind) for i, chat, score, kind in rows if score is not None and kind is not None]


async def _author_activity(session: AsyncSession, rows, now: datetime) -> dict[tuple[int, int], tuple[int, int]]:
    authors = {(r.telegram_chat_id, r.user_profile_id) for r in rows if r.user_profile_id is not None}
    if not authors:
        return {}
    counted = await session.execute(
        select(
            Message.telegram_chat_id,
            Message.user_profile_id,
            func.count(),
            func.count().filter(Message.sent_at >= now - timedelta(hours=1)),
        )
        .where(
            Message.telegram_chat_id.in_({chat for chat, _ in authors}),
            Message.user_profile_id.in_({author for _, author in authors}),
            Message.sent_at >= now - timedelta(days=30),
        )
        .group_by(Message.telegram_chat_id, Message.user_profile_id)
    )
    return {(chat, author): (month, hour) for chat, author, month, hour in counted if author is not None}


async def _duplicates(session: AsyncSession, rows, now: datetime) -> dict[tuple[int, str], int]:
    """How many messages of the last day in each chat have each of these texts (the message itself included)."""
    texts = {r.text for r in rows if r.text}
    if not texts:
        return {}
    counted = await session.execute(
        select(Message.telegram_chat_id, Message.text, func.count())
        .where(
            Message.telegram_chat_id.in_({r.telegram_chat_id for r in rows}),
            Message.text.in_(texts),
            Message.sent_at >= now - timedelta(days=1),
        )
        .group_by(Message.telegram_chat_id, Message.text)
    )
    return {(chat, text): count for chat, text, count in counted}


async def topic_names(session: AsyncSession) -> list[str]:
    """The names of the most recently used topics: the vocabulary of topic association."""
    return list(await session.scalars(select(Topic.name).order_by(Topic.updated_at.desc()).limit(TOPIC_VOCABULARY)))


async def chats_ready(session: AsyncSession, chat_ids: list[int] | None, threshold: int, since: datetime) -> list[int]:
    """Those of these chats (None: of every chat) with `threshold` or more messages waiting for extraction, while
    an active knowledge_extractor config exists (without one there is nothing to extract with)."""
    if chat_ids is not None and not chat_ids:
        return []
    extractor = exists().where(AgentConfig.role == AgentRole.knowledge_extractor.value, AgentConfig.active)
    ready = await session.scalars(
        select(Message.telegram_chat_id)
        .where(*unextracted(chat_ids, since), extractor)
        .group_by(Message.telegram_chat_id)
        .having(func.count() >= threshold)
    )
    return list(ready)
