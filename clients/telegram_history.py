"""A chat's history newest first through pyrogram (kurigram), for the tracker's ingestion.

The same client as the migration's reader (`clients/telegram.telegram_client`: a user session, or the stand-in at
pyrogram's MTProto boundary when `telegram_emulator_url` is set) and the same error mapping (`source_error`:
FloodWait surfaces as `retry_after`, never as a sleep). What differs is the direction and the shape: ingestion
imports a chat's *recent* history (`limit` newest messages, or those `since` a date), so it reads newest first,
`messages.getHistory(offset_id=before_id, add_offset=0, limit=100)` being the 100 messages below `before_id`, and it
keeps every message with its author, where the migration wants posts oldest first with their media.

A channel, a supergroup or a basic group: a person's chat, a bot's or the session's own Saved Messages is refused
(`NotAGroup`, permanent) before anything is read.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pyrogram
from pydantic import BaseModel
from pyrogram import errors, raw, utils

from clients.telegram import (
    HISTORY_CHUNK,
    TELEGRAM_FAILURES,
    channel_ref,
    connect_and_resolve,
    require_group,
    source_error,
    telegram_client,
)
from clients.telegram_http import StandInClient
from domain.posts import SourceError
from settings import Settings

# What Telegram answers when the chat is not there, or not there for this session: the job's error says so plainly.
_NO_SUCH_CHAT = (
    errors.UsernameNotOccupied,
    errors.UsernameInvalid,
    errors.PeerIdInvalid,
    errors.ChannelInvalid,
    errors.ChannelPrivate,
    errors.ChatIdInvalid,
)


class ChatAuthor(BaseModel):
    """A message's author, with the names `db.tracker_messages.upsert_profiles` reads (a Bot API user has them too)."""

    id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False


class ChatMessage(BaseModel):
    id: int
    chat_id: int  # Bot API style (-100... for channels and supergroups), as the webhook's messages are keyed
    date: datetime  # UTC
    text: str = ""  # text, or a media message's caption
    # A pin, a title change, a join...: pyrogram's name for the action; nothing anyone wrote.
    service: str | None = None
    author: ChatAuthor | None = None  # None for a channel's posts (signed by the channel)


class HistoryPage(BaseModel):
    messages: list[ChatMessage]  # newest first, all below the `before_id` asked for
    before_id: int  # the cursor for the next page: the lowest id read (unchanged when nothing was)
    done: bool  # nothing older is left
    count: int  # how many messages Telegram says the chat holds


class ChatHistory:
    """One chat through one pyrogram client, which it owns and closes. The first call connects and resolves."""

    def __init__(self, client: pyrogram.Client, chat: str | int, *, request_retries: int = 3) -> None:
        self._client = client
        self._chat = channel_ref(chat)
        self._retries = max(request_retries, 1)
        self._peer: raw.base.InputPeer | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, chat: str | int) -> ChatHistory:
        return cls(telegram_client(settings, "longrun-ingest"), chat, request_retries=settings.telegram_request_retries)

    async def __aenter__(self) -> ChatHistory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def page(self, before_id: int, limit: int = HISTORY_CHUNK) -> HistoryPage:
        """Up to `limit` (at most 100) messages older than `before_id` (0: from the newest), newest first."""
        if not 1 <= limit <= HISTORY_CHUNK:
            raise ValueError(f"limit must be 1..{HISTORY_CHUNK}")
        peer = await self._ready()
        query = raw.functions.messages.GetHistory(
            peer=peer, offset_id=before_id, offset_date=0, add_offset=0, limit=limit, max_id=0, min_id=0, hash=0
        )
        try:
            answer = await self._client.invoke(query, retries=self._retries, sleep_threshold=0)
        except TELEGRAM_FAILURES as exc:
            raise self._error(exc, f"read {self._chat!r} before message {before_id}") from exc
        parsed = await utils.parse_messages(self._client, answer, replies=0)
        below = sorted((m for m in parsed if before_id == 0 or m.id < before_id), key=lambda m: m.id, reverse=True)
        messages = [chat_message(m) for m in below if not m.empty]
        cursor = below[-1].id if below else before_id
        # Telegram answers fewer than asked only at the end of the history.
        return HistoryPage(
            messages=messages,
            before_id=cursor,
            done=len(below) < limit or cursor <= 1,
            count=getattr(answer, "count", len(answer.messages)),  # pyright: ignore[reportAttributeAccessIssue]  # asked with hash=0: never MessagesNotModified
        )

    async def close(self) -> None:
        if self._client.is_connected or isinstance(self._client, StandInClient):
            await self._client.disconnect()

    async def _ready(self) -> raw.base.InputPeer:
        async with self._lock:
            if self._peer is not None:
                return self._peer
            peer = await connect_and_resolve(self._client, self._chat, self._error)
            await require_group(self._client, peer, self._chat)
            self._peer = peer
            return peer

    def _error(self, exc: BaseException, doing: str) -> SourceError:
        if isinstance(exc, _NO_SUCH_CHAT):
            return SourceError(
                f"chat {self._chat!r} does not exist or this session may not read it (Telegram: {exc.ID})",
                permanent=True,
            )
        return source_error(exc, doing)


def chat_message(message: pyrogram.types.Message) -> ChatMessage:
    author = message.from_user
    # pyrogram types every field of a message optional; only an empty one lacks these, and those are left out.
    assert message.chat is not None and message.chat.id is not None and message.date is not None
    return ChatMessage(
        id=message.id,
        chat_id=message.chat.id,
        # pyrogram gives naive local time (datetime.fromtimestamp); the tracker stores UTC.
        date=message.date.astimezone(UTC),
        # pyrogram's text is a str subclass that slices in UTF-16 units; the database wants a plain string.
        text=str.__str__(message.text or message.caption or ""),
        service=message.service.value if message.service is not None else None,  # pyright: ignore[reportArgumentType]  # pyrogram's enums hold str values (AutoName); auto() reads as int
        author=ChatAuthor(
            id=author.id,
            first_name=author.first_name or "",
            last_name=author.last_name,
            username=author.username,
            language_code=author.language_code,
            is_bot=bool(author.is_bot),
        )
        if author is not None
        else None,
    )
