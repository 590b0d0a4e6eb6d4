"""Progress pushed over websockets: per job, and for every job the caller may see."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.news import discover, make_sources


def ws_url(stack, path: str) -> str:
    return stack.api_url.replace("http://", "ws://") + path


# No socket test waits longer than this for the server to push or close.
DEADLINE = 60


async def collect(ws) -> list[dict]:
    """Every snapshot until the server closes the socket."""
    snaps = []
    async with asyncio.timeout(DEADLINE):
        async for message in ws:
            snaps.append(json.loads(message))
    return snaps


async def test_job_socket_pushes_until_terminal(stack, admin, llm):
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=300)
    job_id = await discover(admin, await make_sources(admin, stack, 4), max_parallel=1)
    async with connect(ws_url(stack, f"/api/v1/ws/jobs/{job_id}?token={admin.token}")) as ws:
        snaps = await collect(ws)
        assert ws.close_code == 1000
    processed = [s["processed"] for s in snaps]
    assert processed == sorted(processed) and len(set(processed)) > 1, processed
    assert snaps[-1]["status"] == "completed" and snaps[-1]["result"]["sources_processed"] == 4
    assert all(s["status"] != "completed" for s in snaps[:-1])


async def test_token_in_first_message_and_bad_tokens(stack, admin, make_user):
    job_id = await discover(admin, await make_sources(admin, stack, 1, items=3))
    async with connect(ws_url(stack, f"/api/v1/ws/jobs/{job_id}")) as ws:
        await ws.send(json.dumps({"token": admin.token}))
        assert (await collect(ws))[-1]["status"] == "completed"

    async with connect(ws_url(stack, f"/api/v1/ws/jobs/{job_id}?token=forged")) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), DEADLINE)
        assert ws.close_code == 4401

    stranger = await make_user("user")
    async with connect(ws_url(stack, f"/api/v1/ws/jobs/{job_id}?token={stranger.token}")) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), DEADLINE)
        assert ws.close_code == 4404


async def test_all_jobs_socket_sees_only_own_jobs(stack, admin, make_user, llm):
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=300)
    alice, bob = await make_user("user"), await make_user("user")
    sources = await make_sources(admin, stack, 2)
    async with connect(ws_url(stack, f"/api/v1/ws/jobs?token={alice.token}")) as ws:
        bobs = await discover(bob, sources, max_parallel=1)
        alices = await discover(alice, sources, max_parallel=1)
        seen = []
        async with asyncio.timeout(DEADLINE):
            while True:
                snap = json.loads(await ws.recv())
                seen.append(snap)
                if snap["job_id"] == alices and snap["status"] == "completed":
                    break
    assert {s["job_id"] for s in seen} == {alices}
    assert bobs not in {s["job_id"] for s in seen}


async def test_all_jobs_socket_reports_a_job_that_ends_between_sweeps(stack, admin, make_user):
    user = await make_user("user")
    sources = await make_sources(admin, stack, 1, items=2)
    async with connect(ws_url(stack, f"/api/v1/ws/jobs?token={user.token}")) as ws:
        job_id = await discover(user, sources)
        await user.wait_job(job_id)
        async with asyncio.timeout(DEADLINE):
            while True:
                snap = json.loads(await ws.recv())
                if snap["job_id"] == job_id and snap["status"] == "completed":
                    break
    assert snap["result"]["sources_processed"] == 1
