"""A Telegram channel's history read through pyrogram (kurigram), as a `PostSource`.

A user session reads it (bots cannot read history): api_id, api_hash and a session string come from settings,
never from a workflow's input. With `telegram_emulator_url` set, the same pyrogram code talks to the local
stand-in instead (`clients/telegram_http.py`).

History goes oldest to newest with `messages.getHistory` the way Telethon's reverse iteration does it:
`offset_id = after_id + 1` with `add_offset = -limit` is the window of the `limit` messages from `after_id + 1`
on; pyrogram's `utils.parse_messages` turns the answer into messages. (kurigram's `get_chat_history(reverse=True)`
starts its window at `min_id` itself, so a page may come back one message short and cost a second request, and it
cannot tell a page that ended the history from one that did not.)

pyrogram never sleeps here on a FloodWait: it surfaces as `SourceError(retry_after=<Telegram's value>)`, so the
wait is Temporal's retry delay rather than an activity asleep.
"""

from __future__ import annotations

import asyncio
import binascii
import re
import struct
from collections.abc import Callable
from itertools import takewhile
from pathlib import Path
from typing import Any

import pyrogram
from pyrogram import errors, raw, types, utils

from clients.media_files import reserve_path
from clients.retry_after import parse_retry_after
from clients.telegram_http import StandInClient
from clients.telegram_messages import message_post
from domain.albums import ALBUM_MAX, hold_back_last_album, merge_albums
from domain.posts import Media, Page, Post, SourceError
from settings import Settings

HISTORY_CHUNK = 100  # Telegram's most messages per messages.getHistory / channels.getMessages
_CLIENT_OPTIONS: dict[str, Any] = {
    "no_updates": True,  # a reader: no update stream to keep up with
    "sleep_threshold": 0,  # every FloodWait reaches the caller
    # No extra requests behind the caller's back while parsing (replies, topics, stories, sticker sets).
    "fetch_replies": False,
    "fetch_topics": False,
    "fetch_stories": False,
    "fetch_stickers": False,
}
_T_ME = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/(?:s/)?([A-Za-z0-9_]{4,})/?$")


def telegram_client(settings: Settings, name: str = "longrun") -> pyrogram.Client:
    """The pyrogram client settings ask for: the stand-in when its URL is set, else Telegram with the session."""
    if settings.telegram_emulator_url:
        return StandInClient(
            name,
            base_url=settings.telegram_emulator_url,
            api_id=settings.telegram_api_id,
            api_hash=settings.telegram_api_hash,
            max_concurrent_transmissions=max(settings.telegram_concurrent_downloads, 1),
            **_CLIENT_OPTIONS,
        )
    if not (settings.telegram_session and settings.telegram_api_id and settings.telegram_api_hash):
        raise SourceError(
            "Telegram is not configured: set LONGRUN_TELEGRAM_API_ID, LONGRUN_TELEGRAM_API_HASH and "
            "LONGRUN_TELEGRAM_SESSION (a user session string), or LONGRUN_TELEGRAM_EMULATOR_URL",
            permanent=True,
        )
    return pyrogram.Client(
        name,
        api_id=settings.telegram_api_id,
        api_hash=settings.telegram_api_hash,
        session_string=settings.telegram_session,
        in_memory=True,
        max_concurrent_transmissions=max(settings.telegram_concurrent_downloads, 1),
        **_CLIENT_OPTIONS,
    )


def channel_ref(channel: str | int) -> str | int:
    """What pyrogram resolves: a username (`@name`, `name`, `https://t.me/name`) or a numeric id (`-100...`)."""
    if isinstance(channel, int):
        return channel
    value = channel.strip()
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    match = _T_ME.match(value)
    return match.group(1) if match else value.lstrip("@")


def source_error(exc: BaseException, doing: str) -> SourceError:
    """Telegram's (pyrogram's) failure as the contract's error: permanent, transient, or a FloodWait to honour."""
    if isinstance(exc, errors.FloodWait | errors.FloodPremiumWait):
        # clamped, as every outside party's wait is; a FloodWait's value is its seconds (pyrogram types it loosely)
        wait = parse_retry_after(exc.value)  # pyright: ignore[reportArgumentType]
        return SourceError(f"{doing}: Telegram asked to wait {exc.value} s", permanent=False, retry_after=wait)
    if isinstance(exc, errors.FileReferenceExpired | errors.FileReferenceInvalid):
        # The file id is stale; reading the post again (posts([id])) gives a fresh one.
        return SourceError(f"{doing}: the file reference expired, read the post again: {exc}", permanent=False)
    if isinstance(exc, errors.BadRequest | errors.Unauthorized | errors.Forbidden | errors.NotAcceptable):
        return SourceError(f"{doing}: {exc}", permanent=True)
    return SourceError(f"{doing}: {exc!r}", permanent=False)


TELEGRAM_FAILURES = (errors.RPCError, OSError, TimeoutError)
ErrorMapping = Callable[[BaseException, str], SourceError]


async def connect_and_resolve(
    client: pyrogram.Client, ref: str | int, as_error: ErrorMapping = source_error
) -> raw.base.InputPeer:
    """Log the client in (once) and resolve a chat: a broken session or a chat pyrogram cannot parse is permanent,
    Telegram's own refusals go through `as_error`."""
    try:
        if not client.is_connected and not await client.connect():
            raise SourceError("the Telegram session is not logged in", permanent=True)
        return await client.resolve_peer(ref)  # pyright: ignore[reportReturnType]  # raises rather than answer None
    except (struct.error, binascii.Error, ValueError, KeyError, AttributeError) as exc:
        # pyrogram's own "not among my peers" for a numeric id it has never met is a KeyError or ValueError.
        raise SourceError(f"cannot use the Telegram session or chat {ref!r}: {exc!r}", permanent=True) from exc
    except TELEGRAM_FAILURES as exc:
        raise as_error(exc, f"resolve {ref!r}") from exc


class NotAGroup(SourceError):
    """The chat is a person's, a bot's or the session's own: not a group or channel anyone may read from the tracker."""

    KINDS = {"self": "the session's own Saved Messages", "private": "a person's 1:1 chat", "bot": "a bot's chat"}

    def __init__(self, ref: str | int, chat_type: str) -> None:
        what = self.KINDS.get(chat_type, "not a group")
        super().__init__(
            f"chat {ref!r} is {what} (chat type: {chat_type}): only groups, supergroups and channels are read",
            permanent=True,
        )
        self.chat_type = chat_type


async def require_group(client: pyrogram.Client, peer: raw.base.InputPeer, ref: str | int) -> None:
    """Raise NotAGroup unless `peer` is a basic group, a supergroup or a channel.

    The session is a user's: "self" is its Saved Messages and a person's username its 1:1 conversation, which must
    never reach rows every role reads. Telegram's peer kinds say it without a request, except a user's: whether it
    is a bot only `users.getUsers` tells, asked to name the type in the error.
    """
    if isinstance(peer, raw.types.InputPeerChat | raw.types.InputPeerChannel):
        return
    if isinstance(peer, raw.types.InputPeerSelf):
        raise NotAGroup(ref, "self")
    if not isinstance(peer, raw.types.InputPeerUser):
        raise NotAGroup(ref, type(peer).__name__)
    user = raw.types.InputUser(user_id=peer.user_id, access_hash=peer.access_hash)
    try:
        found = await client.invoke(raw.functions.users.GetUsers(id=[user]), sleep_threshold=0)
    except TELEGRAM_FAILURES:
        found = []  # whichever it is, it is refused: only the word in the error would differ
    bot = any(getattr(u, "bot", False) for u in found or [])
    raise NotAGroup(ref, "bot" if bot else "private")


class PyrogramSource:
    """One channel's history through one pyrogram client, which this source owns and closes.

    Cheap to build; the first call connects and resolves the channel. Use `from_settings` in the worker.
    """

    def __init__(
        self, client: pyrogram.Client, channel: str | int, *, request_retries: int = 3, max_media_bytes: int = 4 * 2**30
    ) -> None:
        self._client = client
        self._channel = channel_ref(channel)
        self._retries = max(request_retries, 1)
        self._max_media = max_media_bytes
        self._peer: raw.types.InputPeerChannel | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, channel: str | int) -> PyrogramSource:
        return cls(
            telegram_client(settings),
            channel,
            request_retries=settings.telegram_request_retries,
            max_media_bytes=settings.media_max_bytes,
        )

    async def __aenter__(self) -> PyrogramSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def count(self) -> int:
        answer = await self._history_call(after_id=0, limit=1)
        return getattr(answer, "count", len(answer.messages))  # pyright: ignore[reportAttributeAccessIssue]  # asked with hash=0: never MessagesNotModified

    async def page(self, after_id: int, limit: int = 100) -> Page:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        batch, cursor, done = await self._history(after_id, limit)
        messages = [message_post(m) for m in batch]
        if not done:
            messages, held = hold_back_last_album(messages)
            if held and not messages:
                # One album fills the whole page: read on to its end rather than return nothing.
                messages = held + await self._rest_of_album(held)
            if held:
                cursor = messages[-1].id
        return Page(posts=merge_albums(messages), after_id=cursor, done=done)

    async def posts(self, ids: list[int]) -> list[Post]:
        wanted = sorted({i for i in ids if i > 0})
        found = {m.id: m for m in await self._messages(wanted)}
        albums = {m.media_group_id for m in found.values() if m.media_group_id}
        if albums:
            # An album has at most ten members with consecutive ids: its others are within nine ids of any one.
            near = {i for m in found.values() if m.media_group_id for i in range(m.id - 9, m.id + 10)}
            for message in await self._messages(sorted(i for i in near - found.keys() if i > 0)):
                if message.media_group_id in albums:
                    found[message.id] = message
        return merge_albums([message_post(found[i]) for i in sorted(found)])

    async def download(self, media: Media, dest_dir: Path) -> Path:
        """The file, streamed to disk and stopped once it passes LONGRUN_MEDIA_MAX_BYTES (a permanent error for
        the post): the size a post declares is the sender's word, the bytes that arrive are what counts."""
        if media.size is not None and media.size > self._max_media:
            raise SourceError(self._too_big(), permanent=True)
        await self._ready()
        target = reserve_path(dest_dir, media)
        too_big = False

        async def bounded(current: int, _total: int) -> None:  # async: pyrogram runs a plain one in a thread
            nonlocal too_big
            if current > self._max_media:
                too_big = True
                raise pyrogram.StopTransmission  # pyrogram removes the partial file and answers None

        try:
            path = await self._client.download_media(media.ref, file_name=str(target), progress=bounded)
        except (ValueError, binascii.Error, struct.error) as exc:
            target.unlink(missing_ok=True)
            raise SourceError(f"not a Telegram file id: {media.ref[:40]!r} ({exc})", permanent=True) from exc
        except TELEGRAM_FAILURES as exc:
            target.unlink(missing_ok=True)
            raise source_error(exc, "download") from exc
        if path is None:
            target.unlink(missing_ok=True)
            if too_big:
                raise SourceError(self._too_big(), permanent=True)
            raise SourceError("download stopped before the file was complete", permanent=False)
        return Path(path)  # pyright: ignore[reportArgumentType]  # one file to disk: a path, never a list

    def _too_big(self) -> str:
        return f"refused: the file is larger than {self._max_media} bytes (LONGRUN_MEDIA_MAX_BYTES)"

    async def close(self) -> None:
        if self._client.is_connected or isinstance(self._client, StandInClient):
            await self._client.disconnect()

    # ------------------------------------------------------------------ reading

    async def _ready(self) -> raw.types.InputPeerChannel:
        async with self._lock:
            if self._peer is not None:
                return self._peer
            peer = await connect_and_resolve(self._client, self._channel)
            if not isinstance(peer, raw.types.InputPeerChannel):
                raise SourceError(f"{self._channel!r} is not a channel", permanent=True)
            self._peer = peer
            return peer

    async def _invoke(self, query: raw.core.TLObject, doing: str) -> Any:
        try:
            return await self._client.invoke(query, retries=self._retries, sleep_threshold=0)
        except TELEGRAM_FAILURES as exc:
            raise source_error(exc, doing) from exc

    async def _history_call(self, after_id: int, limit: int) -> raw.base.messages.Messages:
        peer = await self._ready()
        query = raw.functions.messages.GetHistory(
            peer=peer, offset_id=after_id + 1, offset_date=0, add_offset=-limit, limit=limit, max_id=0, min_id=0, hash=0
        )
        return await self._invoke(query, f"read {self._channel!r} after message {after_id}")

    async def _history(self, after_id: int, limit: int) -> tuple[list[types.Message], int, bool]:
        """Up to `limit` messages newer than `after_id`, oldest first; the highest id read; whether that was all.

        Telegram answers fewer messages than asked only at the end of the history (Telethon relies on it too).
        """
        messages: list[types.Message] = []
        read = 0
        while read < limit:
            want = min(HISTORY_CHUNK, limit - read)
            answer = await self._history_call(after_id, want)
            parsed = await utils.parse_messages(self._client, answer, replies=0)
            chunk = sorted((m for m in parsed if m.id > after_id), key=lambda m: m.id)
            messages.extend(m for m in chunk if not m.empty)
            read += len(chunk)
            if len(chunk) < want:
                return messages, (chunk[-1].id if chunk else after_id), True
            after_id = chunk[-1].id
        return messages, after_id, False

    async def _rest_of_album(self, members: list[Post]) -> list[Post]:
        rest: list[Post] = []
        after_id = members[-1].id
        while True:
            batch, after_id, done = await self._history(after_id, ALBUM_MAX)
            more = [message_post(m) for m in batch]
            same = list(takewhile(lambda post: post.album_id == members[0].album_id, more))
            rest.extend(same)
            if len(same) < len(more) or done:
                return rest

    async def _messages(self, ids: list[int]) -> list[types.Message]:
        peer = await self._ready()
        channel = raw.types.InputChannel(channel_id=peer.channel_id, access_hash=peer.access_hash)
        messages: list[types.Message] = []
        for start in range(0, len(ids), HISTORY_CHUNK):
            chunk: list[raw.base.InputMessage] = [
                raw.types.InputMessageID(id=i) for i in ids[start : start + HISTORY_CHUNK]
            ]
            answer = await self._invoke(raw.functions.channels.GetMessages(channel=channel, id=chunk), "fetch posts")
            parsed = await utils.parse_messages(self._client, answer, replies=0)
            messages.extend(m for m in parsed if not m.empty)
        return messages
