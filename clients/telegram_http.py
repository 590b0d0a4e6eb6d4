"""A pyrogram client whose MTProto sessions talk to the Telegram stand-in over HTTP instead of to Telegram.

The seam is pyrogram's `Session`: `Client.invoke` and the file download path (`Client.get_file`, through a
media session from `Client.get_session`) both end in `Session.invoke`, which retries, sleeps on short
FloodWaits and raises pyrogram's errors around `Session.send`. Only `send` (and starting and stopping, which
open no connection here) is replaced: it posts the request's TL bytes, as pyrogram serialises them, to
``<stand-in>/rpc/<method>`` and reads the TL answer back with pyrogram's `TLObject.read`; an `rpc_error`
answer is raised with pyrogram's own `RPCError.raise_it`, so `FloodWait(value=N)`, `ChannelInvalid` and the
rest reach callers exactly as from Telegram. Everything above the session (peer resolution, paging,
`Message._parse`, albums, file ids, 1 MiB download chunks) is pyrogram's code, unchanged.

The client logs in with a session string made up here (no secret: the stand-in takes any), so pyrogram's own
`connect()` runs; `get_session` never builds a network session and the connection factory refuses to be used,
so nothing ever dials Telegram while the stand-in is configured.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from io import BytesIO
from typing import Any

import httpx
import pyrogram
from pyrogram import raw
from pyrogram.errors import RPCError
from pyrogram.raw.core import TLObject
from pyrogram.session import Session
from pyrogram.session.session import SessionState
from pyrogram.storage import Storage

STAND_IN_DC = 2  # the stand-in's files live in this data centre too (emulators/telegram_tl.py)
STAND_IN_USER_ID = 777_000_001
_WRAPPERS = (raw.functions.InvokeWithoutUpdates, raw.functions.InvokeWithTakeout, raw.functions.InvokeWithLayer)


class NoTelegramConnection:
    """pyrogram's connection factory while the stand-in is configured: it must never be asked for a socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the Telegram stand-in client opened a network connection to Telegram")


def stand_in_session_string(api_id: int) -> str:
    """A pyrogram session string for a logged-in user on the stand-in's data centre."""
    auth_key = hashlib.shake_256(b"longrun telegram stand-in").digest(256)
    packed = struct.pack(Storage.SESSION_STRING_FORMAT, STAND_IN_DC, api_id, False, auth_key, STAND_IN_USER_ID, False)
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


def method_name(query: TLObject) -> str:
    """The TL method a request calls (`messages.GetHistory`), looking through pyrogram's Invoke* wrappers."""
    while isinstance(query, _WRAPPERS):
        query = query.query
    return query.QUALNAME.split(".", 1)[1]


class StandInSession(Session):
    """A pyrogram session whose transport is one HTTP request per RPC."""

    def __init__(self, client: pyrogram.Client, dc_id: int, auth_key: bytes, http: httpx.AsyncClient, **kw) -> None:
        super().__init__(client, dc_id, "stand-in", 0, auth_key, False, **kw)
        self.http = http

    async def start(self) -> None:
        await self._set_state(SessionState.STARTED)
        self.is_started.set()

    async def stop(self) -> None:
        self.is_started.clear()
        await self._set_state(SessionState.STOPPED)

    async def restart(self) -> None:
        await self.start()

    # pyrogram's own signature (Session.invoke passes `timeout`), hence the parameter rather than asyncio.timeout.
    async def send(
        self,
        data: TLObject,
        wait_response: bool = True,
        timeout: float = Session.WAIT_TIMEOUT,  # noqa: ASYNC109
    ) -> Any:
        try:
            answer = await self.http.post(f"/rpc/{method_name(data)}", content=data.write(), timeout=timeout)
        except httpx.TimeoutException:
            # What Session.send raises when Telegram's answer does not come in time.
            raise TimeoutError("Request timed out") from None
        except httpx.TransportError as exc:
            # A dropped TCP connection: Session.invoke retries OSErrors, as it does on Telegram's sockets.
            raise ConnectionError(f"Telegram stand-in connection failed: {exc!r}") from exc
        if answer.status_code != 200:
            raise ConnectionError(f"Telegram stand-in answered HTTP {answer.status_code}")
        result = TLObject.read(BytesIO(answer.content))
        if isinstance(result, raw.types.RpcError):
            if isinstance(data, raw.functions.InvokeWithoutUpdates | raw.functions.InvokeWithTakeout):
                data = data.query
            RPCError.raise_it(result, type(data))
        return result


class StandInClient(pyrogram.Client):
    """pyrogram's Client, with every session (main and media) a `StandInSession` on `base_url`."""

    def __init__(self, name: str, *, base_url: str, api_id: int = 0, api_hash: str = "", **kwargs: Any) -> None:
        api_id = api_id or 1
        super().__init__(
            name,
            api_id=api_id,
            api_hash=api_hash or "stand-in",
            session_string=stand_in_session_string(api_id),
            in_memory=True,
            # never asked for a socket, so it implements nothing of pyrogram's Connection
            connection_factory=NoTelegramConnection,  # pyright: ignore[reportArgumentType]
            **kwargs,
        )
        # Plain HTTP on loopback: verify=False spares loading the CA bundle, ~50 ms for every source a step builds.
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), verify=False)

    # Takes the arguments the stand-in's session uses; pyrogram's others (by keyword) go to `**_`.
    async def get_session(  # pyright: ignore[reportIncompatibleMethodOverride]
        self, dc_id: int | None = None, is_media: bool = False, is_cdn: bool = False, **_: Any
    ) -> Session:
        dc_id = dc_id or await self.storage.dc_id()
        if is_media and dc_id in self.media_sessions:
            return self.media_sessions[dc_id]
        session = StandInSession(self, dc_id, await self.storage.auth_key(), self.http, is_media=is_media)
        if is_media:
            self.media_sessions[dc_id] = session
        await session.start()
        return session

    async def disconnect(self) -> None:
        try:
            if self.is_connected:
                await super().disconnect()
            for session in self.media_sessions.values():
                await session.stop()
            self.media_sessions.clear()
        finally:
            await self.http.aclose()
