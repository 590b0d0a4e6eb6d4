"""WebSockets are bounded: a user's sockets per API process (1008 beyond the cap, a slot freed when one closes),
and a socket's pending pushes (a client that stops reading is dropped, not buffered for without end)."""

import asyncio
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.progress_hub import Outbox
from devstack.clients import eventually
from settings import Settings

DEADLINE = 30
CAP = Settings().websockets_per_user


def events_url(stack) -> str:
    return stack.api_url.replace("http://", "ws://") + "/api/v1/ws/events"


async def open_signed_in(stack, token: str):
    """A socket that sent its token as its first message; returned once the server said it is streaming."""
    ws = await connect(events_url(stack))
    await ws.send(json.dumps({"token": token}))
    async with asyncio.timeout(DEADLINE):
        first = json.loads(await ws.recv())
    assert first["type"] == "stream.ready"
    return ws


async def refused_code(stack, token: str) -> tuple[int, str]:
    async with connect(events_url(stack)) as ws:
        await ws.send(json.dumps({"token": token}))
        async with asyncio.timeout(DEADLINE):
            try:
                while True:
                    await ws.recv()
            except ConnectionClosed:
                pass
        return ws.close_code, ws.close_reason


async def test_a_user_has_at_most_the_cap_of_sockets_open(stack, make_user):
    user = await make_user("user")
    sockets = [await open_signed_in(stack, user.token) for _ in range(CAP)]
    try:
        code, reason = await refused_code(stack, user.token)
        assert (code, reason) == (1008, f"too many sockets open for this user (at most {CAP})")

        # Another user is not counted against this one.
        other = await make_user("user")
        await (await open_signed_in(stack, other.token)).close()

        # A socket that closes gives its slot back.
        await sockets.pop().close()

        async def reopened():
            try:
                return await open_signed_in(stack, user.token)
            except (AssertionError, ConnectionClosed):
                return None  # the server has not seen the close yet

        sockets.append(await eventually(reopened, "a slot to be given back", within=DEADLINE))
    finally:
        for ws in sockets:
            await ws.close()


async def test_a_client_that_stops_reading_overflows_its_outbox_and_nothing_more_is_kept():
    """The outbox's rule, without a network in the way: a client that never reads is dropped by uvicorn's ping
    timeout after 20-40 s on any code (so a socket test cannot tell the bound from it), and until then every push
    to it was kept; a client that reads too slowly, answering pings, was kept without end."""
    outbox = Outbox(3)
    for n in range(3):
        outbox.offer((f"job-{n}", None))
    assert not outbox.overflowed.is_set()
    outbox.offer(("job-3", None))
    assert outbox.overflowed.is_set(), "the socket is to be closed"
    assert outbox.queue.empty(), "what it could not take is dropped, not kept"
    outbox.offer(("job-4", None))
    assert outbox.queue.empty()
