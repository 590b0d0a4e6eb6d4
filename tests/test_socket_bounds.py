"""WebSockets are bounded: a user's sockets per API process (1008 beyond the cap, a slot freed when one closes),
a message's size (1009), the sockets still waiting for their token (1013 beyond the cap), and a socket's pending
pushes (a client that stops reading is dropped, not buffered for without end)."""

import asyncio
import json

from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.job_sockets import until_gone
from api.progress_hub import Outbox
from devstack.clients import eventually
from settings import Settings

DEADLINE = 30
CAP = Settings().websockets_per_user
MAX_MESSAGE = Settings().websocket_max_message_bytes


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


async def refused_code(stack, token: str, url: str | None = None) -> tuple[int, str]:
    async with connect(url or events_url(stack), max_size=None) as ws:
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


async def test_a_message_larger_than_the_bound_closes_the_socket_before_it_is_read(stack, make_user):
    """uvicorn's default is 16 MiB a message, read whole (and, as the first message, parsed) before anyone is known."""
    user = await make_user("user")
    padded = user.token + " " * MAX_MESSAGE  # a valid token, but too long a message to be read at all
    code, _ = await refused_code(stack, padded)
    assert code == 1009, "message too big"
    # A message within the bound still signs in.
    await (await open_signed_in(stack, user.token)).close()


async def test_sockets_waiting_for_their_token_are_bounded_per_process(stack, make_user):
    """Accepted sockets that have not signed in are nobody's, so no per-user cap holds them: a process keeps at most
    LONGRUN_WEBSOCKETS_PENDING_AUTH of them, and closes one more at once (1013: try again)."""
    pending_cap = 3
    name = "api-pending-auth"
    # A deadline far longer than the test: the waiting sockets stay waiting until this test lets them go.
    url = stack.start_api(name, LONGRUN_WEBSOCKETS_PENDING_AUTH=str(pending_cap), LONGRUN_WEBSOCKET_AUTH_SECONDS="600")
    events = url.replace("http://", "ws://") + "/api/v1/ws/events"
    user = await make_user("user")
    waiting = []
    try:
        waiting = [await connect(events) for _ in range(pending_cap)]

        async def refused():
            """How a socket opened while every slot is taken is closed (None: the server had not yet counted every
            waiting one, and this one signed in)."""
            async with connect(events) as ws:
                try:
                    await ws.send(json.dumps({"token": user.token}))  # may already find it closed
                    async with asyncio.timeout(DEADLINE):
                        await ws.recv()
                    return None
                except ConnectionClosed as closed:
                    return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd is not None else None

        refusal = await eventually(refused, "a socket beyond the pending cap to be refused", within=DEADLINE)
        assert refusal == (1013, "too many sockets waiting to sign in; try again")

        # One waiting socket signs in: its slot is given back, and a new socket may wait for its token again.
        await waiting[0].send(json.dumps({"token": user.token}))
        async with asyncio.timeout(DEADLINE):
            assert json.loads(await waiting[0].recv())["type"] == "stream.ready"

        async def admitted():
            ws = await connect(events)
            await ws.send(json.dumps({"token": user.token}))
            try:
                async with asyncio.timeout(DEADLINE):
                    return ws if json.loads(await ws.recv())["type"] == "stream.ready" else None
            except ConnectionClosed:
                return None

        waiting.append(await eventually(admitted, "a pending slot to be given back", within=DEADLINE))
    finally:
        for ws in waiting:
            await ws.close()
        stack.stop_named(name)


async def test_a_socket_whose_client_stopped_reading_is_closed_1013_while_its_sender_is_stuck():
    """until_gone, the socket loop every stream runs, through Starlette's WebSocket over an ASGI channel whose client
    never reads: a write to it never completes. Not over a real socket: a client that never reads stops answering
    uvicorn's pings too, and is dropped by uvicorn's ping timeout on any code, so a socket test would pass whether
    or not the overflow closes it; and reaching the overflow needs the kernel's buffers full first."""
    connected = False
    sent: list[dict] = []
    writing = asyncio.Event()

    async def receive() -> dict:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await asyncio.Future()  # the client says nothing more, and does not leave
        raise AssertionError

    async def send(message: dict) -> None:
        sent.append(message)
        if message["type"] == "websocket.send":
            writing.set()
            await asyncio.Future()  # the client does not read: this write never completes

    ws = WebSocket({"type": "websocket", "path": "/ws", "headers": []}, receive, send)
    await ws.accept()
    outbox = Outbox(2)

    async def pushing() -> None:
        while True:
            _, update = await outbox.get()
            await ws.send_json(update)

    socket = asyncio.create_task(until_gone(ws, pushing, outbox.overflowed))
    outbox.offer(("job", {"n": 0}))
    async with asyncio.timeout(DEADLINE):
        await writing.wait()  # the sender is stuck writing the first push
    for n in range(1, 4):  # two wait in the outbox, the third finds it full
        outbox.offer(("job", {"n": n}))
    assert outbox.overflowed.is_set()
    async with asyncio.timeout(DEADLINE):
        await socket
    assert sent[-1] == {
        "type": "websocket.close",
        "code": 1013,
        "reason": "too slow to take the updates; reconnect",
    }
