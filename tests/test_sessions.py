"""Sign-in sessions: refresh tokens rotate, a reused one ends its session, logout ends it, and failed sign-ins
are bounded per username and per address (429 with Retry-After)."""

import uuid

import httpx
import pytest
from sqlalchemy import text

from devstack.clients import Api

PASSWORD = "password-1"


async def sign_in(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post("/api/login/", json={"username": username, "password": password})


async def refresh(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/api/token/refresh/", json={"refresh": token})


async def test_a_refresh_rotates_the_token_and_a_reused_one_ends_the_session(stack, make_user):
    user = await make_user("user")
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        first = (await sign_in(http, user.username)).json()["refresh"]
        answer = (await refresh(http, first)).json()
        second = answer["refresh"]
        assert second and second != first
        me = await http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {answer['access']}"})
        assert me.json()["username"] == user.username

        # Another tab refreshing with the token just replaced: an access token, and it keeps the newer refresh.
        raced = await refresh(http, first)
        assert raced.status_code == 200 and raced.json()["refresh"] is None and raced.json()["access"]

        third = (await refresh(http, second)).json()["refresh"]
        # `first` is two rotations old: someone holds a copy. The session ends, for the copy and for its owner.
        reused = await refresh(http, first)
        assert reused.status_code == 401 and "already used" in reused.json()["detail"]
        ended = await refresh(http, third)
        assert ended.status_code == 401
        assert ended.json()["detail"] == "this session has ended (a refresh token was used twice); sign in again"


async def test_logout_ends_the_session_and_only_that_one(stack, make_user):
    user = await make_user("user")
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        laptop = (await sign_in(http, user.username)).json()["refresh"]
        phone = (await sign_in(http, user.username)).json()["refresh"]
        rotated = (await refresh(http, laptop)).json()["refresh"]

        # Signing out with the spent token ends the session it belonged to, rotated tokens included.
        assert (await http.post("/api/logout/", json={"refresh": laptop})).status_code == 204
        answer = await refresh(http, rotated)
        assert answer.status_code == 401
        assert answer.json()["detail"] == f"this session has ended (signed out by {user.username}); sign in again"
        assert (await http.post("/api/logout/", json={"refresh": laptop})).status_code == 204, "it stays ended"

        assert (await refresh(http, phone)).status_code == 200, "the other sign-in is not signed out"
        garbage = await http.post("/api/logout/", json={"refresh": "not-a-token"})
        assert (garbage.status_code, garbage.json()["detail"]) == (401, "invalid token")


@pytest.fixture
async def bounded_api(stack):
    """An API on its own database (failed sign-ins live there) with small bounds: 3 per username, 8 per address."""
    url = stack.create_database(f"logins_{uuid.uuid4().hex[:8]}")
    env = {
        "LONGRUN_DATABASE_URL": url,
        "LONGRUN_LOGIN_FAILURES_PER_USERNAME": "3",
        "LONGRUN_LOGIN_FAILURES_PER_ADDRESS": "8",
        "LONGRUN_LOGIN_FAILURE_WINDOW_SECONDS": "60",
    }
    base = stack.start_api("api-logins", **env)
    own_admin = await Api.login(base, "admin", stack.env()["LONGRUN_ADMIN_PASSWORD"])
    for name in ("alice", "bob", "carol", "dave"):
        await own_admin.ok("POST", "/api/v1/users", 201, json={"username": name, "password": PASSWORD})
    database = stack.database(url)
    yield base, database
    await own_admin.close()
    await database.dispose()
    stack.stop_named("api-logins")


async def test_failed_sign_ins_are_bounded_per_username_and_per_address(bounded_api):
    base, database = bounded_api
    async with httpx.AsyncClient(base_url=base) as http:
        # A success clears the username's count: dave fails twice, signs in, and may fail twice more.
        statuses = [(await sign_in(http, "dave", password)).status_code for password in ("x", "y", PASSWORD, "z", "w")]
        assert statuses == [401, 401, 200, 401, 401]

        assert [(await sign_in(http, "alice", "wrong")).status_code for _ in range(3)] == [401, 401, 401]
        blocked = await sign_in(http, "alice")  # the right password, and still refused: nothing is verified
        assert blocked.status_code == 429
        assert blocked.json()["detail"].startswith("too many failed sign-ins for this username; try again in ")
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60

        # Seven failures from this address so far (dave's four count: the address bound is for spraying many
        # accounts). The eighth makes the address blocked for everyone, right password or not.
        assert (await sign_in(http, "bob", "wrong")).status_code == 401
        carol = await sign_in(http, "carol")
        assert carol.status_code == 429
        assert carol.json()["detail"].startswith("too many failed sign-ins from this address; try again in ")
        assert 1 <= int(carol.headers["Retry-After"]) <= 60

        # Once the failures are older than the window they no longer count.
        async with database.begin() as db:
            await db.execute(text("UPDATE login_failure SET failed_at = failed_at - interval '61 seconds'"))
        assert (await sign_in(http, "alice")).status_code == 200
        assert (await sign_in(http, "carol")).status_code == 200
