"""The events socket (`WS /api/v1/ws/events`) as a test reads it: opened once its API process listens, so no
event published after can pass it by."""

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

# No wait on a socket lasts longer than this.
DEADLINE = 30


def ws_url(api_url: str, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return api_url.replace("http://", "ws://") + "/api/v1/ws/events" + (f"?{query}" if query else "")


async def receive(ws: ClientConnection, within: float = DEADLINE) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def open_stream(stack: AsyncExitStack, api_url: str, token: str, **params: str) -> ClientConnection:
    """A socket whose API process is listening, so nothing published from now on can pass it by."""
    async with asyncio.timeout(DEADLINE):
        while True:
            ws = await stack.enter_async_context(connect(ws_url(api_url, token=token, **params)))
            ready = await receive(ws)
            assert ready["type"] == "stream.ready", ready
            if ready["listening"]:
                return ws
            await ws.close()  # the API process is still connecting its listener: ask again
            await asyncio.sleep(0.1)
