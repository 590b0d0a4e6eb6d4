"""The sign-in bound holds under concurrency: a try is counted before its password is verified, so a burst of
wrong passwords gets at most the bound's worth of verifications; X-Forwarded-For is believed only from configured
proxies; and the password checks that may wait are bounded."""

import asyncio
import threading
import uuid

import httpx
import pytest

from api.auth import HashingBusy, _Queue
from devstack.clients import Api

PASSWORD = "password-1"
PER_USERNAME = 10
PER_ADDRESS = 30


@pytest.fixture(scope="module")
async def throttled_api(stack):
    url = stack.create_database(f"throttle_{uuid.uuid4().hex[:8]}")
    base = stack.start_api(
        "api-throttle",
        LONGRUN_DATABASE_URL=url,
        LONGRUN_LOGIN_FAILURES_PER_USERNAME=str(PER_USERNAME),
        LONGRUN_LOGIN_FAILURES_PER_ADDRESS=str(PER_ADDRESS),
        LONGRUN_LOGIN_FAILURE_WINDOW_SECONDS="600",
        # Room for the whole burst to wait for a verify: this test is about the count, not the queue.
        LONGRUN_LOGIN_VERIFY_QUEUE="100",
    )
    own_admin = await Api.login(base, "admin", stack.env()["LONGRUN_ADMIN_PASSWORD"])
    await own_admin.ok("POST", "/api/v1/users", 201, json={"username": "erin", "password": PASSWORD})
    await own_admin.close()
    yield base
    stack.stop_named("api-throttle")


async def test_a_burst_of_wrong_passwords_gets_at_most_the_bound_of_verifications(throttled_api):
    async with httpx.AsyncClient(base_url=throttled_api, timeout=120) as http:
        answers = await asyncio.gather(
            *(http.post("/api/login/", json={"username": "erin", "password": f"guess-{n}"}) for n in range(50))
        )
        statuses = sorted(answer.status_code for answer in answers)
        # Every 401 is a verified guess. Checked then recorded after the verify, all 50 were.
        assert statuses.count(401) == PER_USERNAME, statuses
        assert statuses.count(429) == 50 - PER_USERNAME, statuses

        # Locked: the right password is not even verified.
        right = await http.post("/api/login/", json={"username": "erin", "password": PASSWORD})
        assert right.status_code == 429
        assert right.json()["detail"].startswith("too many failed sign-ins for this username")
        assert int(right.headers["Retry-After"]) >= 1


async def test_a_forged_forwarded_for_does_not_pick_the_address_that_is_counted(throttled_api):
    """No proxy is trusted by default: every try below comes from this one connection's address, whatever header
    it sends, so the address bound ends it (uvicorn's own default believed 127.0.0.1's X-Forwarded-For)."""
    async with httpx.AsyncClient(base_url=throttled_api, timeout=60) as http:
        for n in range(PER_ADDRESS + 1):
            answer = await http.post(
                "/api/login/",
                json={"username": f"sprayed-{uuid.uuid4().hex[:8]}", "password": "wrong"},
                headers={"X-Forwarded-For": f"203.0.113.{n % 250 + 1}"},
            )
            if answer.status_code == 429:
                break
            assert answer.status_code == 401
        assert answer.status_code == 429, "the address bound never held: the forged addresses were believed"
        assert answer.json()["detail"].startswith("too many failed sign-ins from this address")


async def test_password_checks_beyond_the_queue_are_refused_at_once():
    """The queue's own rule, without the clock: with one check in flight and room for one, the next is refused
    (the API answers it 503 with Retry-After), and a freed place takes one again."""
    queue = _Queue(1)
    release = threading.Event()
    running = asyncio.create_task(queue.run(release.wait, 60))
    await asyncio.sleep(0)  # the task takes its place before its first await
    assert queue.taken == 1
    with pytest.raises(HashingBusy):
        await queue.run(lambda: True)
    release.set()
    assert await running is True
    assert await queue.run(lambda: "again") == "again"
