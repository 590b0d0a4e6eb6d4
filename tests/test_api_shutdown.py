"""An API with live sockets open (the dashboard's jobs stream, the tracker's events) stops when told to.

The sockets only sent, so the server's shutdown, which reaches a socket as a receive, waited on them until
`make down` killed the API 10 s later. Now each socket also reads, and ends with the server.
"""

from __future__ import annotations

import asyncio
import json
import signal

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devstack.clients import Api
from devstack.stack import Stack


async def closed_by_server(ws) -> int | None:
    """The close code the server sent (None: the connection just dropped)."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def test_sigterm_stops_the_api_gracefully_with_sockets_open(stack: Stack, admin: Api) -> None:
    url = stack.start_api("api-shutdown")
    api = next(p for p in stack.procs if p.name == "api-shutdown")
    base = url.replace("http://", "ws://")
    try:
        async with (
            connect(f"{base}/api/v1/ws/events?token={admin.token}") as events,
            connect(f"{base}/api/v1/ws/jobs?token={admin.token}") as jobs,
        ):
            assert json.loads(await events.recv())["type"] == "stream.ready"
            # SIGTERM, and SIGKILL if it has not exited 10 s later: a killed API answers -9.
            code = await asyncio.to_thread(api.stop)
            codes = await asyncio.gather(closed_by_server(events), closed_by_server(jobs))
    finally:
        stack.stop_named("api-shutdown")
    # uvicorn ends a graceful shutdown by re-raising the signal it got: -15. Killed, it would be -9.
    assert code == -signal.SIGTERM
    # Each socket was closed by the server going away (1012: service restart), not cut.
    assert codes == [1012, 1012]
