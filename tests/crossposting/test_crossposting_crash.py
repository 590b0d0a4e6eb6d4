"""A migration survives its worker: three `kill -9`s, one while MAX is still taking a send the dead worker made.
And two migrations on one bot token, on two workers, stay within MAX's 30 requests in any second."""

import bisect
from collections import Counter

import httpx
import pytest

from devstack.clients import Api, eventually, expected_in_max, in_max
from tests.support.crossposting import (
    FAST_MAX,
    log_counts,
    logged_max_ids,
    make_link,
    max_count_reaches,
    unique,
)

CRASH_QUEUE = "migration-crash"
RATE_QUEUE = "migration-rate"
# Slow enough that three kills land mid-run: MAX's limit at 60/s for this deployment.
CRASH_ENV = {**FAST_MAX, "LONGRUN_MAX_RATE_PER_SECOND": "60"}


@pytest.fixture
async def crash_api(stack, admin):
    url = stack.start_api("api-migration-crash", task_queue=CRASH_QUEUE, **CRASH_ENV)
    api = Api(url, admin.token)
    yield api
    await api.close()
    stack.stop_named("api-migration-crash")


async def test_three_kills_one_mid_send_nothing_twice_nothing_missing(stack, crash_api, max_emulator, database):
    await max_emulator.control("POST", "/_emulator/max/config", rate_limit_per_second=60, not_ready_seconds=0.05)
    chat, max_chat = "gen_500_s12", 7_000 + unique()
    link = await make_link(crash_api, chat=chat, max_chat=max_chat, token=f"bot-{unique()}")
    expected = await expected_in_max(stack.telegram_url, chat)
    worker = stack.start_worker("worker-crash-1", task_queue=CRASH_QUEUE, **CRASH_ENV)
    job_id = (await crash_api.ok("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]}))["job_id"]

    # First kill: somewhere in the first quarter.
    await max_count_reaches(max_emulator, max_chat, len(expected) // 4)
    worker.kill9()
    worker = stack.start_worker("worker-crash-2", task_queue=CRASH_QUEUE, **CRASH_ENV)

    # Second kill: MAX has taken a send and not yet answered it when the worker dies.
    await max_count_reaches(max_emulator, max_chat, len(expected) // 2)
    held_before = (await max_emulator.stats())["faults_applied"].get("/messages", 0)
    await max_emulator.fault(path="/messages", kind="drop_after", latency_ms=5000, times=1)

    async def send_held():
        return (await max_emulator.stats())["faults_applied"].get("/messages", 0) > held_before

    await eventually(send_held, "a send taken and held at MAX", within=30, interval=0.02)
    worker.kill9()
    worker = stack.start_worker("worker-crash-3", task_queue=CRASH_QUEUE, **CRASH_ENV)

    # Third kill: in the last quarter.
    await max_count_reaches(max_emulator, max_chat, 3 * len(expected) // 4)
    worker.kill9()
    stack.start_worker("worker-crash-4", task_queue=CRASH_QUEUE, **CRASH_ENV)

    job = await crash_api.wait_job(job_id, within=180)
    assert job["status"] == "completed", job
    assert await in_max(max_emulator, max_chat) == expected  # nothing twice, nothing missing, in order
    assert len(await logged_max_ids(database, link["id"])) == len(expected)
    assert (await log_counts(database, link["id"])).get("pending", 0) == 0
    # The replacement asked MAX about the send it found an intent for, instead of sending again.
    by_endpoint = (await max_emulator.stats())["max"]["tokens"]
    assert sum(t["by_endpoint"].get("GET /messages", 0) for t in by_endpoint.values()) >= 1
    stack.stop_named("worker-crash-4")


async def test_two_migrations_on_one_token_stay_within_30_per_second(stack, admin, max_emulator, database):
    # MAX's real limit, in this deployment and at the emulator; attachments ready fast so sends keep coming.
    # The test is about two workers keeping one schedule (unshared they would send 2 x 27/s), not about the
    # default 4% margin (41 ms of arrival spread, which `python -m bench max_rate` measures): on a machine
    # overloaded by other test runs a request can reach MAX 70 ms after its slot (docs/rate-limit.md), so this
    # deployment leaves 10% (111 ms), as tests/crossposting/test_max_rate_limit.py does.
    env = {**FAST_MAX, "LONGRUN_MAX_RATE_PER_SECOND": "30", "LONGRUN_MAX_RATE_HEADROOM": "0.10"}
    await max_emulator.control("POST", "/_emulator/max/config", rate_limit_per_second=30, not_ready_seconds=0.05)
    url = stack.start_api("api-migration-rate", task_queue=RATE_QUEUE, **env)
    stack.start_worker("worker-rate-1", task_queue=RATE_QUEUE, **env)
    stack.start_worker("worker-rate-2", task_queue=RATE_QUEUE, **env)
    api = Api(url, admin.token)
    token = f"bot-shared-{unique()}"
    chats = [("gen_150_s13", 7_000 + unique()), ("gen_150_s14", 7_000 + unique())]
    links = [await make_link(api, chat=c, max_chat=m, token=token) for c, m in chats]
    job_ids = [
        (await api.ok("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]}))["job_id"] for link in links
    ]
    for job_id in job_ids:
        assert (await api.wait_job(job_id, within=180))["status"] == "completed"
    for chat, max_chat in chats:
        assert await in_max(max_emulator, max_chat) == await expected_in_max(stack.telegram_url, chat)
    stats = (await max_emulator.stats())["max"]["tokens"][token]
    assert stats["requests"] > 300, "enough traffic to press on the limit"
    # Two asserts, not one `and`: pytest shows only the operand that failed, and `assert (31 <= 30)` alone was read
    # as "31 in a second and no 429", which the emulator cannot count (with the limit at 30 it refuses the 31st).
    assert stats["rejected"] == 0, (stats, await _densest_second(max_emulator, token))
    assert stats["max_per_second"] <= 30, (stats, await _densest_second(max_emulator, token))
    await api.close()
    stack.stop_named("api-migration-rate", "worker-rate-1", "worker-rate-2")


async def _densest_second(max_emulator, token: str) -> dict:
    """The busiest second the emulator saw for `token`: how many, their spread and endpoints, for a failure."""
    async with httpx.AsyncClient(base_url=max_emulator.base_url, timeout=30) as http:
        log = (await http.get("/_emulator/max/arrivals", params={"token": token})).raise_for_status().json()
    arrivals, endpoints = log["arrivals"], log["endpoints"]
    if not arrivals:
        return {}
    counts = [bisect.bisect_left(arrivals, at + 1.0) - i for i, at in enumerate(arrivals)]
    first = max(range(len(counts)), key=counts.__getitem__)
    last = first + counts[first] - 1
    return {
        "requests": counts[first],
        "span_ms": round((arrivals[last] - arrivals[first]) * 1000, 1),
        "by_endpoint": dict(Counter(endpoints[first : last + 1])),
    }
