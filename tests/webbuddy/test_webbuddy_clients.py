"""WebBuddy's own clients, unchanged, against Longrun: its worker client, which refreshes every day with the first
refresh token it was given, and its site, which pushes each new query to /api/process-query without a token."""

import asyncio
import threading
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from devstack.clients import Api, eventually
from devstack.stack import ADMIN_PASSWORD
from tests.support.deployment import deployment
from tests.support.webbuddy import new_query, queued_without_workflow, wait_query
from tests.webbuddy.seed_client import WebBuddyAPIClient, polling_worker

PASSWORD = "password-1"

# One day of the worker client's clock, in seconds, and the server's lifetimes on the same scale: access tokens 24 h,
# refresh tokens a week. The server's day is twice the client's: a token's expiry is a whole second, which cuts up to
# a second off it (nothing against 24 h, most of a scaled-down day).
DAY = 2.0
ACCESS_SECONDS = 2 * DAY
REFRESH_SECONDS = 7 * ACCESS_SECONDS
WEEK_OF_REFRESHES = 7


async def account(admin: Api, role: str) -> str:
    """A new account with `role` on the admin's deployment; its username (password PASSWORD)."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    await admin.ok("POST", "/api/v1/users", 201, json={"username": username, "password": PASSWORD, "role": role})
    return username


async def with_project(base: str, admin: Api) -> Api:
    """A new user signed in to `base`, with a project: `.username` and `.project` as queued_without_workflow takes."""
    username = await account(admin, "user")
    owner = await Api.login(base, username, PASSWORD)
    owner.username = username
    owner.project = (await owner.ok("POST", "/api/projects/", 201, json={"name": f"site of {username}"}))["id"]
    return owner


async def query_status(database, query_id: int) -> str:
    async with database.connect() as conn:
        return await conn.scalar(text("select status from query where id = :q"), {"q": query_id})


# --- The worker client and its refresh token ------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def short_tokens(stack):
    """An API on its own database whose tokens live seconds, and where a refresh token used again gets no grace (the
    first reuse is the one detected). No worker: the seed's client is the only one processing this queue."""
    url = stack.create_database(f"tokens_{uuid.uuid4().hex[:8]}")
    env = {
        "LONGRUN_DATABASE_URL": url,
        "LONGRUN_ACCESS_TOKEN_HOURS": str(ACCESS_SECONDS / 3600),
        "LONGRUN_REFRESH_TOKEN_DAYS": str(REFRESH_SECONDS / 86400),
        "LONGRUN_REFRESH_REUSE_GRACE_SECONDS": "0",
    }
    base = stack.start_api("api-short-tokens", task_queue="webbuddy-short-tokens", **env)
    database = stack.database(url)
    try:
        yield base, database
    finally:
        await database.dispose()
        stack.stop_named("api-short-tokens")


@pytest.fixture
async def short_admin(short_tokens):
    """The short-token deployment's admin (signed in anew: its tokens live seconds)."""
    admin = await Api.login(short_tokens[0], "admin", ADMIN_PASSWORD)
    yield admin
    await admin.close()


class ScaledClient(WebBuddyAPIClient):
    """WebBuddy's worker client as it is, on a day of DAY seconds, keeping what sign-in and each refresh answered."""

    token_lifetime = timedelta(seconds=DAY)
    refresh_before = timedelta(seconds=DAY * 5 / (24 * 60))  # 5 minutes of a day

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.signed_in: dict = {}
        self.refreshed: list[dict] = []

    def login(self, username, password):
        self.signed_in = super().login(username, password)
        return self.signed_in

    def refresh_access_token(self):
        data = super().refresh_access_token()
        self.refreshed.append(data)
        return data


async def test_the_worker_client_keeps_working_through_a_week_of_daily_refreshes(short_tokens, short_admin):
    base, database = short_tokens
    worker = await account(short_admin, "worker")
    owner = await with_project(base, short_admin)
    client, stop, errors = ScaledClient(base), threading.Event(), []
    thread = threading.Thread(target=polling_worker, args=(client, worker, PASSWORD, stop, errors, 0.1), daemon=True)
    thread.start()
    try:

        async def a_week_or_a_failure():
            return errors or len(client.refreshed) >= WEEK_OF_REFRESHES

        await eventually(a_week_or_a_failure, "a week of refreshes", within=60)
        # Before: the second refresh, with the token the first had rotated away, ended the worker's session (401).
        assert not errors, f"the worker client failed after {len(client.refreshed)} refreshes: {errors}"

        # On its seventh day it still takes what is queued and closes it.
        query_id = await queued_without_workflow(database, owner)

        async def closed():
            return await query_status(database, query_id) == "done"

        await eventually(closed, f"the worker client to close query {query_id}", within=30)
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 10)
        await owner.close()
    assert not errors, errors
    assert not thread.is_alive()

    # The sign-in's refresh token was kept, not replaced: every refresh answered it back, so its expiry is the sign-in's
    # own (a week), and the lifetimes were short enough that the week's first access token has long expired.
    assert {answer["refresh"] for answer in client.refreshed} == {client.signed_in["refresh"]}
    async with httpx.AsyncClient(base_url=base) as http:
        first = {"Authorization": f"Bearer {client.signed_in['access']}"}
        expired = await http.get("/api/v1/users/me", headers=first)
        assert (expired.status_code, expired.json()["detail"]) == (401, "token expired")


async def refresh(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/api/token/refresh/", json={"refresh": token})


async def sign_in(http: httpx.AsyncClient, username: str) -> dict:
    response = await http.post("/api/login/", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_persons_rotated_refresh_token_used_by_someone_else_still_ends_the_session(short_tokens, short_admin):
    """Where the worker's kept token passes, a person's does not: the dashboard's refresh rotates it, and the token it
    replaced, used again (a copy in someone else's hands), ends the session for both."""
    person = await account(short_admin, "user")
    async with httpx.AsyncClient(base_url=short_tokens[0]) as http:
        stolen = (await sign_in(http, person))["refresh"]
        rotated = (await refresh(http, stolen)).json()["refresh"]
        assert rotated and rotated != stolen

        thief = await refresh(http, stolen)
        assert thief.status_code == 401 and "already used" in thief.json()["detail"]
        owner = await refresh(http, rotated)
        assert owner.status_code == 401
        assert owner.json()["detail"] == "this session has ended (a refresh token was used twice); sign in again"


async def test_a_workers_kept_refresh_token_ends_with_logout_or_a_change_of_role(short_tokens, short_admin):
    base, database = short_tokens
    worker = await account(short_admin, "worker")
    async with httpx.AsyncClient(base_url=base) as http:
        kept = (await sign_in(http, worker))["refresh"]
        for _ in range(2):
            again = await refresh(http, kept)
            assert (again.status_code, again.json()["refresh"]) == (200, kept)
        assert (await http.post("/api/logout/", json={"refresh": kept})).status_code == 204
        ended = await refresh(http, kept)
        assert ended.status_code == 401
        assert ended.json()["detail"] == f"this session has ended (signed out by {worker}); sign in again"

        # No longer a worker: its token rotates as a person's does, and the old one used again ends the session.
        kept = (await sign_in(http, worker))["refresh"]
        async with database.begin() as conn:
            await conn.execute(text("update users set role = 'user' where username = :u"), {"u": worker})
        rotated = (await refresh(http, kept)).json()["refresh"]
        assert rotated and rotated != kept
        assert (await refresh(http, kept)).status_code == 401
        assert (await refresh(http, rotated)).status_code == 401


# --- The site's push without a token ---------------------------------------------------------------------------------

PUSH_BURST = 3


@pytest.fixture(scope="module")
async def pushes(stack, admin):
    """A deployment on its own database whose reconcile sweep never starts a query's workflow (its grace is an hour), so
    what starts one here is a push; tokenless pushes are limited to PUSH_BURST per address (then one in 100 s), and the
    tests name their address in X-Forwarded-For (believed from loopback here) so each has its own."""
    url = stack.create_database(f"pushes_{uuid.uuid4().hex[:8]}")
    env = {
        "LONGRUN_DATABASE_URL": url,
        "LONGRUN_WEBBUDDY_GRACE_SECONDS": "3600",
        "LONGRUN_WEBBUDDY_TOKENLESS_PUSH_BURST": str(PUSH_BURST),
        "LONGRUN_WEBBUDDY_TOKENLESS_PUSHES_PER_SECOND": "0.01",
        "LONGRUN_FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    async with deployment(stack, admin, "webbuddy-push", "webbuddy-push", **env) as api:
        database = stack.database(url)
        own_admin = await Api.login(api.url, "admin", ADMIN_PASSWORD)
        yield api.url, database, own_admin
        await own_admin.close()
        await database.dispose()


@pytest.fixture
async def owner(pushes):
    base, _, own_admin = pushes
    api = await with_project(base, own_admin)
    yield api
    await api.close()


def site(base: str, address: str) -> httpx.AsyncClient:
    """WebBuddy's site: no Authorization header, from `address`."""
    return httpx.AsyncClient(base_url=base, headers={"X-Forwarded-For": address})


def push(query_id) -> dict:
    return {"query_id": query_id, "webbuddy_url": "http://localhost:8000"}


ACCEPTED = (200, {"status": "accepted"})


async def test_a_push_without_a_token_wakes_the_oldest_queued_query(pushes, owner, llm):
    base, database, _ = pushes
    older = await queued_without_workflow(database, owner)
    newer = await queued_without_workflow(database, owner)
    async with site(base, "192.0.2.1") as http:
        # It names the newer one, and the oldest goes first, as claim_next would take it.
        answer = await http.post("/api/process-query", json=push(newer))
        assert (answer.status_code, answer.json()) == ACCEPTED
        assert (await wait_query(owner, older))["status"] == "done"
        assert await query_status(database, newer) == "queued"

        # A push naming no query at all wakes the queue the same way.
        answer = await http.post("/api/process-query", json=push(10**9))
        assert (answer.status_code, answer.json()) == ACCEPTED
        assert (await wait_query(owner, newer))["status"] == "done"


async def test_a_push_without_a_token_tells_nothing_about_the_query_it_names(pushes, owner, llm):
    base, _, _ = pushes
    done = (await wait_query(owner, (await new_query(owner, owner.project))["id"]))["id"]
    # With a token its owner learns what the push met (closed: 409, no such query: 404); without one nobody does.
    assert (await owner.http.post("/api/process-query", json=push(done))).status_code == 409
    assert (await owner.http.post("/api/process-query", json=push(10**9))).status_code == 404
    async with site(base, "192.0.2.2") as http:
        answers = [await http.post("/api/process-query", json=push(query_id)) for query_id in (done, 10**9)]
        assert [(a.status_code, a.json()) for a in answers] == [ACCEPTED, ACCEPTED]
        assert answers[0].content == answers[1].content
        # A bad token is a 401, never taken for no token.
        forged = await http.post("/api/process-query", json=push(done), headers={"Authorization": "Bearer forged"})
        assert (forged.status_code, forged.json()["detail"]) == (401, "invalid token")


async def test_pushes_without_a_token_are_limited_per_address(pushes, owner):
    base, _, _ = pushes
    async with site(base, "192.0.2.3") as http:
        answers = [await http.post("/api/process-query", json=push(10**9)) for _ in range(PUSH_BURST)]
        assert [(a.status_code, a.json()) for a in answers] == [ACCEPTED] * PUSH_BURST
        over = await http.post("/api/process-query", json=push(10**9))
        assert over.status_code == 429
        assert over.json()["detail"].startswith("too many pushes without a token from this address; try again in ")
        assert 1 <= int(over.headers["Retry-After"]) <= 100
    async with site(base, "192.0.2.4") as other:
        assert (await other.post("/api/process-query", json=push(10**9))).status_code == 200
    # A push with a token is not a tokenless one: the address's bound does not hold it back.
    signed = await owner.http.post("/api/process-query", json=push(10**9), headers={"X-Forwarded-For": "192.0.2.3"})
    assert signed.status_code == 404
