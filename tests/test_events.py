"""Workers' events reach every API process through Postgres LISTEN/NOTIFY: published from a connection of their
own (as a worker's activity publishes), pushed on `WS /api/v1/ws/events` of two API processes, each job's events
in order, each user seeing only what is theirs, and the stream surviving a lost listener connection."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from api.event_listener import APPLICATION_NAME
from db.events import EventName, JobEvents, publish
from tests.support.events import open_stream, receive, ws_url


@pytest.fixture(scope="module")
def second_api(stack) -> str:
    """Another API process on the same database: the events must reach it as well."""
    url = stack.start_api("api-events-2")
    yield url
    stack.stop_named("api-events-2")


async def take(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [await receive(ws) for _ in range(count)]


async def test_a_jobs_events_reach_both_api_processes_in_order(stack, database: AsyncEngine, admin, second_api):
    job_id = f"ingestion-{uuid.uuid4().hex[:8]}"
    events = JobEvents(job_id, owner="admin")
    names = [EventName.ingestion_started, *[EventName.ingestion_progress] * 25, EventName.ingestion_completed]
    async with AsyncExitStack() as sockets:
        streams = [await open_stream(sockets, url, admin.token, job_id=job_id) for url in (stack.api_url, second_api)]
        for processed, name in enumerate(names):
            async with database.begin() as conn:  # a connection of its own, as a worker's activity has
                await events.publish(conn, name, {"processed": processed, "total": len(names) - 1})
        received = [await take(ws, len(names)) for ws in streams]
    for got in received:
        assert [e["seq"] for e in got] == list(range(1, len(names) + 1))
        assert [e["type"] for e in got] == [name.value for name in names]
        assert [e["data"]["processed"] for e in got] == list(range(len(names)))
        assert {(e["job_id"], e["owner"]) for e in got} == {(job_id, "admin")}
    assert received[0] == received[1]


async def test_out_of_order_and_repeated_events_are_delivered_once_in_order(stack, database: AsyncEngine, admin):
    job_id = f"analysis-{uuid.uuid4().hex[:8]}"
    name = EventName.analysis_batch_completed
    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, stack.api_url, admin.token, job_id=job_id)
        # 3 before 1 and 2 (two activities' commits crossing), 2 twice (a retried activity), then 7 with 5 and 6
        # never coming: 7 waits for them a moment and then goes out; a late 6 is dropped, 8 follows 7.
        for seq in (3, 1, 2, 2, 4, 7):
            async with database.begin() as conn:
                await publish(conn, name, {"batch": seq}, owner="admin", job_id=job_id, seq=seq)
        first = await take(ws, 5)
        for seq in (6, 8):
            async with database.begin() as conn:
                await publish(conn, name, {"batch": seq}, owner="admin", job_id=job_id, seq=seq)
        last = await receive(ws)
    assert [e["seq"] for e in first] == [1, 2, 3, 4, 7]
    assert [e["data"]["batch"] for e in first] == [1, 2, 3, 4, 7]
    assert last["seq"] == 8


async def test_users_see_their_own_jobs_and_the_shared_events_admins_see_all(
    stack, database: AsyncEngine, admin, make_user, second_api
):
    alice, bob = await make_user("user"), await make_user("manager")
    marker = {"marker": uuid.uuid4().hex}
    async with AsyncExitStack() as sockets:
        streams = {
            "alice": await open_stream(sockets, stack.api_url, alice.token),
            "bob": await open_stream(sockets, second_api, bob.token),
            "admin": await open_stream(sockets, second_api, admin.token),
        }
        async with database.begin() as conn:
            await publish(conn, EventName.experiment_started, {"n": 1}, owner=alice.username, job_id="exp-a", seq=1)
            await publish(conn, EventName.experiment_started, {"n": 2}, owner=bob.username, job_id="exp-b", seq=1)
            await publish(conn, EventName.message_updated, {"message_id": 5}, owner=None)
            await publish(conn, EventName.batch_scored, marker, owner=None)

        async def until_marker(ws: ClientConnection) -> list[str]:
            seen = []
            while True:
                event = await receive(ws)
                seen.append(event["type"] + (f":{event['owner']}" if event["owner"] else ""))
                if event["data"] == marker:
                    return seen

        seen = {who: await until_marker(ws) for who, ws in streams.items()}
    shared = ["message.updated", "batch_scored"]
    assert seen["alice"] == [f"experiment_started:{alice.username}", *shared]
    assert seen["bob"] == [f"experiment_started:{bob.username}", *shared]
    assert seen["admin"] == [f"experiment_started:{alice.username}", f"experiment_started:{bob.username}", *shared]


async def test_a_bad_token_is_refused_and_a_token_in_the_first_message_works(stack, admin):
    async with connect(ws_url(stack.api_url, token="forged")) as ws:
        with pytest.raises(ConnectionClosed):
            await receive(ws)
        assert ws.close_code == 4401
    async with connect(ws_url(stack.api_url)) as ws:
        await ws.send(json.dumps({"token": "also-forged"}))
        with pytest.raises(ConnectionClosed):
            await receive(ws)
        assert ws.close_code == 4401
    async with connect(ws_url(stack.api_url)) as ws:
        await ws.send(json.dumps({"token": admin.token}))
        assert (await receive(ws))["type"] == "stream.ready"


async def test_an_event_of_a_rolled_back_transaction_is_never_sent(stack, database: AsyncEngine, admin):
    job_id = f"knowledge-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, stack.api_url, admin.token, job_id=job_id)
        with pytest.raises(RuntimeError):
            async with database.begin() as conn:
                await publish(conn, EventName.knowledge_extraction_started, {}, owner="admin", job_id=job_id, seq=1)
                raise RuntimeError("the write this event reports failed")
        async with database.begin() as conn:
            await publish(conn, EventName.knowledge_extraction_failed, {"error": "x"}, owner="admin", job_id=job_id)
        event = await receive(ws)
    assert event["type"] == "knowledge.extraction_failed"


async def test_listeners_reconnect_after_losing_their_connection(stack, database: AsyncEngine, admin, second_api):
    job_id = f"ingestion-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as sockets:
        streams = [await open_stream(sockets, url, admin.token, job_id=job_id) for url in (stack.api_url, second_api)]
        async with database.begin() as conn:
            killed = await conn.scalar(
                text("select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name like :name"),
                {"name": f"{APPLICATION_NAME}-%"},
            )
        assert killed >= 2  # one listener per API process
        for ws in streams:
            assert (await receive(ws))["type"] == "stream.resumed"
        async with database.begin() as conn:
            await publish(conn, EventName.ingestion_progress, {"processed": 10}, owner="admin", job_id=job_id, seq=1)
        after = [await receive(ws) for ws in streams]
    assert [(e["type"], e["seq"]) for e in after] == [("ingestion.progress", 1)] * 2
