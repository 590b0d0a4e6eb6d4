"""The tracker's data, read-only: messages with their scores, the Telegram users who wrote them, and the
knowledge extracted from them (topics and their atoms). Everyone signed in reads; the webhook, ingestion and
extraction are what write."""

import mimetypes
from datetime import datetime
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser, SessionDep, SettingsDep, found
from api.fields import BigInt, RowId
from api.paging import Limit, Offset, page_of
from db.models.tracker import Atom, AtomMessage, AtomType, Message, NoiseClass, Topic, UserProfile
from db.models.users import User

router = APIRouter(prefix="/api/v1", tags=["tracker"])


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    telegram_chat_id: int
    telegram_message_id: int
    user_profile_id: int | None
    text: str
    sent_at: datetime
    source: str
    importance_score: float | None
    noise_class: NoiseClass | None
    noise_factors: dict | None
    scored_at: datetime | None
    topic_id: int | None
    extracted_at: datetime | None
    # When the text was last changed in Telegram (null: never edited).
    edited_at: datetime | None
    created_at: datetime


class MessagePage(BaseModel):
    items: list[MessageOut]
    total: int


class ProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    telegram_user_id: int
    user_id: int | None
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None
    is_bot: bool
    avatar_path: str | None
    avatar_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LinkedUser(BaseModel):
    """The Longrun user who linked this profile's Telegram account (POST /api/v1/users/me/telegram/link)."""

    id: int
    username: str


class ProfileWithUser(ProfileOut):
    linked_user: LinkedUser | None = None


async def with_linked_users(session: AsyncSession, profiles: list[UserProfile]) -> list[ProfileWithUser]:
    """Each profile with the Longrun user its Telegram account is linked to (one query for the page)."""
    ids = [p.telegram_user_id for p in profiles]
    rows = await session.execute(
        select(User.id, User.username, User.telegram_user_id).where(User.telegram_user_id.in_(ids))
    )
    linked = {row.telegram_user_id: LinkedUser(id=row.id, username=row.username) for row in rows}
    return [
        ProfileWithUser(**ProfileOut.model_validate(p).model_dump(), linked_user=linked.get(p.telegram_user_id))
        for p in profiles
    ]


class ProfilePage(BaseModel):
    items: list[ProfileWithUser]
    total: int


class AtomOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    topic_id: int | None
    type: AtomType
    title: str
    content: str
    confidence: float | None
    created_at: datetime


class AtomDetail(AtomOut):
    message_ids: list[int]


class AtomPage(BaseModel):
    items: list[AtomOut]
    total: int


class TopicOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class TopicDetail(TopicOut):
    atoms: list[AtomOut]


class TopicPage(BaseModel):
    items: list[TopicOut]
    total: int


@router.get("/messages")
async def list_messages(
    session: SessionDep,
    _: CurrentUser,
    chat: Annotated[BigInt | None, Query(description="the Telegram chat id")] = None,
    noise_class: NoiseClass | None = None,
    topic_id: RowId | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> MessagePage:
    where = []
    if chat is not None:
        where.append(Message.telegram_chat_id == chat)
    if noise_class is not None:
        where.append(Message.noise_class == noise_class.value)
    if topic_id is not None:
        where.append(Message.topic_id == topic_id)
    order = [Message.sent_at.desc(), Message.id.desc()]
    rows, total = await page_of(session, Message, where, order, limit, offset)
    return MessagePage(items=[MessageOut.model_validate(r) for r in rows], total=total)


class ChatOut(BaseModel):
    telegram_chat_id: int
    messages: int
    last_sent_at: datetime


class ChatPage(BaseModel):
    items: list[ChatOut]
    total: int


@router.get("/chats")
async def list_chats(session: SessionDep, _: CurrentUser, limit: Limit = 100, offset: Offset = 0) -> ChatPage:
    """The chats messages came from (by the webhook or an ingestion), the latest active first, with how many
    messages each has: what a chat filter over `/messages?chat=` offers."""
    grouped = select(
        Message.telegram_chat_id,
        func.count().label("messages"),
        func.max(Message.sent_at).label("last_sent_at"),
    ).group_by(Message.telegram_chat_id)
    total = await session.scalar(select(func.count()).select_from(grouped.subquery()))
    rows = await session.execute(
        grouped.order_by(desc("last_sent_at"), Message.telegram_chat_id).limit(limit).offset(offset)
    )
    items = [ChatOut(telegram_chat_id=r[0], messages=r[1], last_sent_at=r[2]) for r in rows]
    return ChatPage(items=items, total=total or 0)


@router.get("/messages/{message_id}")
async def read_message(message_id: RowId, session: SessionDep, _: CurrentUser) -> MessageOut:
    return MessageOut.model_validate(await found(session, Message, message_id, "message"))


@router.get("/profiles")
async def list_profiles(
    session: SessionDep,
    _: CurrentUser,
    id: Annotated[list[RowId] | None, Query(max_length=1000, description="only these (a page's authors)")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ProfilePage:
    where = [UserProfile.id.in_(id)] if id else []
    rows, total = await page_of(session, UserProfile, where, [UserProfile.id], limit, offset)
    return ProfilePage(items=await with_linked_users(session, list(rows)), total=total)


@router.get("/profiles/{profile_id}")
async def read_profile(profile_id: RowId, session: SessionDep, _: CurrentUser) -> ProfileWithUser:
    return (await with_linked_users(session, [await found(session, UserProfile, profile_id, "profile")]))[0]


@router.get(
    "/profiles/{profile_id}/avatar",
    response_class=FileResponse,
    responses={200: {"description": "the avatar, as Telegram sent it", "content": {"image/jpeg": {}}}},
)
async def read_avatar(profile_id: RowId, session: SessionDep, settings: SettingsDep, _: CurrentUser) -> FileResponse:
    """The profile's Telegram avatar as the workers cached it (`avatar_path`, under the avatars directory they
    share with the API: settings.shared_dir). 404 when the user shows no photo, it is not fetched yet, or it is not
    where this API can read it. Signed in like the rest: the page fetches it with its token and shows it as a data:
    image."""
    profile = await found(session, UserProfile, profile_id, "profile")
    path = _avatar_file(profile.avatar_path, settings.avatars_dir)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"profile {profile_id} has no avatar stored")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not media_type.startswith("image/"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"profile {profile_id} has no avatar stored")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


def _avatar_file(stored: str | None, avatars_dir: Path) -> Path | None:
    """The stored avatar's file, only if it is a file inside the avatars directory once links are resolved (never a
    path elsewhere). Stored relative to that directory. A row from before holds an absolute path: taken as it is, or
    by its name in this directory (the files moved with the directory to a shared volume)."""
    if not stored:
        return None
    root = avatars_dir.resolve()
    for candidate in (root / stored, root / PurePath(stored).name):
        path = candidate.resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    return None


@router.get("/topics")
async def list_topics(session: SessionDep, _: CurrentUser, limit: Limit = 100, offset: Offset = 0) -> TopicPage:
    rows, total = await page_of(session, Topic, [], [Topic.updated_at.desc(), Topic.id.desc()], limit, offset)
    return TopicPage(items=[TopicOut.model_validate(r) for r in rows], total=total)


@router.get("/topics/{topic_id}")
async def read_topic(topic_id: RowId, session: SessionDep, _: CurrentUser) -> TopicDetail:
    topic = await found(session, Topic, topic_id, "topic")
    atoms = await session.scalars(select(Atom).where(Atom.topic_id == topic_id).order_by(Atom.id))
    return TopicDetail(**TopicOut.model_validate(topic).model_dump(), atoms=[AtomOut.model_validate(a) for a in atoms])


@router.get("/atoms")
async def list_atoms(
    session: SessionDep,
    _: CurrentUser,
    topic_id: RowId | None = None,
    type: AtomType | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AtomPage:
    where = []
    if topic_id is not None:
        where.append(Atom.topic_id == topic_id)
    if type is not None:
        where.append(Atom.type == type.value)
    rows, total = await page_of(session, Atom, where, [Atom.id.desc()], limit, offset)
    return AtomPage(items=[AtomOut.model_validate(r) for r in rows], total=total)


@router.get("/atoms/{atom_id}")
async def read_atom(atom_id: RowId, session: SessionDep, _: CurrentUser) -> AtomDetail:
    atom = await found(session, Atom, atom_id, "atom")
    linked = await session.scalars(
        select(AtomMessage.message_id).where(AtomMessage.atom_id == atom_id).order_by(AtomMessage.message_id)
    )
    return AtomDetail(**AtomOut.model_validate(atom).model_dump(), message_ids=list(linked))
