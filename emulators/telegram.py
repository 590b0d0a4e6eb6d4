"""Telegram at pyrogram's MTProto boundary, on loopback: the stand-in the worker's pyrogram client talks to.

The client (`clients/telegram_http.py`) sends each raw TL request as pyrogram serialises it,
``POST /rpc/<method>`` (``/rpc/messages.GetHistory``), body = the request's TL bytes. This app reads it with
pyrogram's own ``TLObject.read`` and answers with the TL bytes of what Telegram would answer: a
``messages.ChannelMessages`` with its chats, an ``upload.File``, a ``contacts.ResolvedPeer``. A failed call
answers 200 with a TL ``rpc_error`` (``FLOOD_WAIT_7``, ``CHANNEL_INVALID``...), which the client raises as
pyrogram raises Telegram's errors. So pyrogram's paging, parsing, album handling, file-id decoding and download
chunking all run as they do against Telegram.

Channels are generated from their usernames (`emulators/telegram_channel.py`: ``@gen_1000``,
``@gen_1000_s7_m4096``, ``@bench_10000``, ``@private_x``); people and bots too (`emulators/telegram_users.py`:
``@person_alice``, ``@helper_bot``), whose chats a reader must refuse.

Methods served: ``contacts.ResolveUsername``, ``users.GetUsers``, ``channels.GetChannels``,
``messages.GetHistory`` (offset_id, offset_date, add_offset, limit ≤ 100, min_id, max_id as Telegram applies them;
a person's chat is a few messages), ``channels.GetMessages``, ``upload.GetFile`` (1 MiB chunks at most, offsets
in 4 KiB steps), and the ``Invoke*`` wrappers around them.

Control API: the shared one (`emulators/faults.py`) with paths per TL method, plus a kind of its own:

- ``{"path": "/rpc/messages.GetHistory", "kind": "rpc_error", "status": 420, "error_message": "FLOOD_WAIT_7",
  "times": 2}``: the next two history calls fail with Telegram's FloodWait of 7 s (``status`` is the RPC
  error code: 400, 401, 403, 420, 500...);
- per-page latency: ``{"path": "/rpc/messages.GetHistory", "kind": "latency", "latency_ms": 50}``; per-download
  latency: the same on ``/rpc/upload.GetFile`` (one call per MiB of a file);
- ``GET /_emulator/stats`` counts requests per method path.

Run: ``python -m emulators.telegram --host 127.0.0.1 --port 8103``
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from io import BytesIO
from typing import Literal

from fastapi import Request
from pydantic import Field
from pyrogram import raw
from pyrogram.raw.core import TLObject, Vector
from starlette.responses import Response

from emulators import serve, telegram_tl
from emulators.errors import error_payload
from emulators.faults import EmulatorApp, ErrorEnvelope, FaultSpec
from emulators.telegram_channel import ChannelIndex, ChannelSpec, GenMessage, index, media_bytes
from emulators.telegram_users import Users

TL_MEDIA_TYPE = "application/x-telegram-tl"
HISTORY_LIMIT = 100  # Telegram answers at most this many messages per call, whatever the limit asked
FILE_CHUNK_LIMIT = 1024 * 1024
FILE_OFFSET_STEP = 4096
_WRAPPERS = (
    raw.functions.InvokeWithoutUpdates,
    raw.functions.InvokeWithLayer,
    raw.functions.InitConnection,
    raw.functions.InvokeWithTakeout,
    raw.functions.InvokeWithMessagesRange,
)


class RpcFailure(Exception):
    """An RPC error Telegram would answer: ``CHANNEL_INVALID`` with code 400, and so on."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message


def tl_response(obj: TLObject | list[TLObject]) -> Response:
    """The TL bytes of an answer; a list is a bare `Vector` (what `users.getUsers` answers)."""
    data = bytes(Vector(obj)) if isinstance(obj, list) else obj.write()
    return Response(data, media_type=TL_MEDIA_TYPE)


def rpc_error(code: int, message: str) -> Response:
    return tl_response(raw.types.RpcError(error_code=code, error_message=message))


class TelegramFault(FaultSpec):
    """The shared fault rules plus ``rpc_error``: Telegram's own failures, answered in TL."""

    kind: Literal["status", "latency", "drop", "drop_after", "rpc_error"]
    error_message: str | None = Field(None, pattern=r"^[A-Z0-9_]+$")

    def response(self, envelope: ErrorEnvelope = error_payload) -> Response:
        if self.kind == "rpc_error":
            return rpc_error(self.status, self.error_message or "INTERNAL")
        return super().response(envelope)


class Channels:
    """The channels this process has been asked about, found again by id and by the key inside file ids.

    A client resolves a username before it asks for history or files, as with Telegram.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, ChannelSpec] = {}
        self._by_key: dict[int, ChannelSpec] = {}

    async def resolve(self, username: str) -> ChannelSpec:
        spec = ChannelSpec.parse(username)
        if spec is None:
            raise RpcFailure(400, "USERNAME_NOT_OCCUPIED")
        # Generating a large channel takes a while: not on the event loop.
        await asyncio.to_thread(index, spec)
        self._by_id[spec.channel_id] = spec
        self._by_key[spec.key] = spec
        return spec

    def by_peer(self, channel_id: int, access_hash: int) -> ChannelSpec:
        spec = self._by_id.get(channel_id)
        if spec is None or spec.access_hash != access_hash:
            raise RpcFailure(400, "CHANNEL_INVALID")
        if spec.private:
            raise RpcFailure(400, "CHANNEL_PRIVATE")
        return spec

    def by_key(self, key: int) -> ChannelSpec | None:
        return self._by_key.get(key)


def history(channel: ChannelIndex, query: raw.functions.messages.GetHistory) -> list[GenMessage]:
    """What `messages.getHistory` answers: newest first, a window of `limit` placed by the offsets.

    Counted newest first among the messages min_id < id < max_id: the window starts at the first message older
    than `offset_id` (or than `offset_date`), moved `add_offset` places; a negative `add_offset` reaches back to
    newer messages, which is how a reader goes oldest to newest.
    """
    ids, dates = channel.ids, channel.dates
    low = bisect_right(ids, query.min_id) if query.min_id else 0
    high = bisect_left(ids, query.max_id) if query.max_id else len(ids)
    if high <= low:
        return []
    start = 0  # places from the newest candidate
    if query.offset_id:
        start = high - max(low, min(high, bisect_left(ids, query.offset_id)))
    elif query.offset_date:
        start = high - max(low, min(high, bisect_left(dates, query.offset_date)))
    begin = max(start + query.add_offset, 0)
    end = min(max(start + query.add_offset + min(query.limit, HISTORY_LIMIT), 0), high - low)
    if end <= begin:
        return []
    return list(reversed(channel.messages[high - end : high - begin]))


def input_message_id(item: TLObject | int) -> int | None:
    """The id an `InputMessageID` asks for.

    pyrogram reads a vector whose items take 8 bytes each as longs (its reader guesses bare types by size, which
    serves Telegram's answers): an `inputMessageID` (constructor, then the id) arrives as one little-endian long.
    """
    if isinstance(item, raw.types.InputMessageID):
        return item.id
    if isinstance(item, int) and item & 0xFFFFFFFF == raw.types.InputMessageID.ID:
        return item >> 32
    return None


class TelegramStandIn:
    def __init__(self) -> None:
        self.channels = Channels()
        self.users = Users()

    async def answer(self, query: TLObject) -> TLObject | list[TLObject]:
        while isinstance(query, _WRAPPERS):
            query = query.query
        if isinstance(query, raw.functions.contacts.ResolveUsername):
            if (person := self.users.resolve(query.username)) is not None:
                peer = raw.types.PeerUser(user_id=person.user_id)
                return raw.types.contacts.ResolvedPeer(peer=peer, chats=[], users=[person.user()])
            spec = await self.channels.resolve(query.username)
            peer = raw.types.PeerChannel(channel_id=spec.channel_id)
            return raw.types.contacts.ResolvedPeer(peer=peer, chats=[telegram_tl.channel(spec)], users=[])
        if isinstance(query, raw.functions.users.GetUsers):
            # Telegram leaves out the users it cannot find for this session.
            return [found.user() for item in query.id if (found := self.users.by_input(item)) is not None]
        if isinstance(query, raw.functions.channels.GetChannels):
            found = [self.channels.by_peer(c.channel_id, c.access_hash) for c in query.id]
            return raw.types.messages.Chats(chats=[telegram_tl.channel(spec) for spec in found])
        if isinstance(query, raw.functions.messages.GetHistory):
            if (person := self.users.by_input(query.peer)) is not None:
                return person.conversation()
            spec = self._peer(query.peer)
            channel = index(spec)
            return self._channel_messages(spec, history(channel, query), len(channel.ids))
        if isinstance(query, raw.functions.channels.GetMessages):
            spec = self._peer(query.channel)
            return self._channel_messages(spec, self._by_ids(spec, query.id), len(index(spec).ids))
        if isinstance(query, raw.functions.upload.GetFile):
            return self._file(query)
        raise RpcFailure(400, "METHOD_NOT_SUPPORTED_BY_STAND_IN")

    def _peer(self, peer: TLObject) -> ChannelSpec:
        if not isinstance(peer, raw.types.InputPeerChannel | raw.types.InputChannel):
            raise RpcFailure(400, "PEER_ID_INVALID")
        return self.channels.by_peer(peer.channel_id, peer.access_hash)

    def _by_ids(self, spec: ChannelSpec, ids: list[TLObject | int]) -> list[GenMessage | int]:
        wanted = [message_id for item in ids if (message_id := input_message_id(item)) is not None]
        if len(wanted) > 100:
            raise RpcFailure(400, "LIMIT_INVALID")
        by_id = index(spec).by_id
        return [by_id.get(i, i) for i in wanted]  # an id with no message answers messageEmpty

    def _channel_messages(self, spec: ChannelSpec, found: list, count: int) -> raw.types.messages.ChannelMessages:
        peer = raw.types.PeerChannel(channel_id=spec.channel_id)
        messages = [
            telegram_tl.message(spec, m) if isinstance(m, GenMessage) else raw.types.MessageEmpty(id=m, peer_id=peer)
            for m in found
        ]
        return raw.types.messages.ChannelMessages(
            pts=count, count=count, messages=messages, topics=[], chats=[telegram_tl.channel(spec)], users=[]
        )

    def _file(self, query: raw.functions.upload.GetFile) -> raw.types.upload.File:
        location = query.location
        if not isinstance(location, raw.types.InputPhotoFileLocation | raw.types.InputDocumentFileLocation):
            raise RpcFailure(400, "LOCATION_INVALID")
        if not 0 < query.limit <= FILE_CHUNK_LIMIT or query.limit % 1024 or query.offset % FILE_OFFSET_STEP:
            raise RpcFailure(400, "LIMIT_INVALID")
        key, message_id = telegram_tl.split_media_id(location.id)
        spec = self.channels.by_key(key)
        gen = index(spec).by_id.get(message_id) if spec else None
        if spec is None or gen is None or gen.media is None or location.access_hash != spec.access_hash:
            raise RpcFailure(400, "FILE_ID_INVALID")
        if location.file_reference != telegram_tl.file_reference(message_id):
            raise RpcFailure(400, "FILE_REFERENCE_EXPIRED")
        data = media_bytes(spec, message_id, gen.media)
        kind = raw.types.storage.FileJpeg() if gen.media.kind == "photo" else raw.types.storage.FileUnknown()
        return raw.types.upload.File(type=kind, mtime=gen.date, bytes=data[query.offset : query.offset + query.limit])


def create_app() -> EmulatorApp:
    app = EmulatorApp(title="Telegram stand-in (pyrogram's MTProto boundary)", fault_spec=TelegramFault)
    stand_in = TelegramStandIn()

    @app.post("/rpc/{method}")
    async def rpc(method: str, request: Request) -> Response:
        body = await request.body()
        try:
            query = TLObject.read(BytesIO(body))
        except Exception:  # noqa: BLE001  (any garbage: Telegram drops what it cannot read)
            return rpc_error(400, "INPUT_REQUEST_INVALID")
        try:
            return tl_response(await stand_in.answer(query))
        except RpcFailure as failure:
            return rpc_error(failure.code, failure.message)

    return app


if __name__ == "__main__":
    serve.run(create_app, description="Telegram stand-in at pyrogram's MTProto boundary", default_port=8103)
