"""A token says who its user was when it was made; the API asks who they are now: a deactivated user's token is
refused and a demoted admin's token no longer opens admin routes, within LONGRUN_USER_STATE_CACHE_SECONDS. The
owners of jobs no person started are not usernames anyone may take."""

import pytest
from sqlalchemy import text

from devstack.clients import eventually

ADMIN_ROUTE = ("POST", "/api/v1/codec/decode")


@pytest.mark.parametrize("name", ["schedule", "telegram", "Schedule"])
async def test_the_owners_of_unattended_jobs_are_reserved(admin, name):
    answer = await admin.http.post("/api/v1/users", json={"username": name, "password": "password-1"})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "username"] and "is reserved" in error["msg"]


async def set_user(database, username: str, **values) -> None:
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    async with database.begin() as db:
        await db.execute(
            text(f"UPDATE users SET {assignments} WHERE username = :username"), {**values, "username": username}
        )


async def test_a_deactivated_users_token_is_refused(make_user, database):
    user = await make_user("user")
    assert (await user.http.get("/api/v1/users/me")).status_code == 200
    await set_user(database, user.username, is_active=False)

    async def refused():
        answer = await user.http.get("/api/v1/users/me")
        return answer if answer.status_code != 200 else None

    answer = await eventually(refused, "the deactivated user's token to be refused")
    assert (answer.status_code, answer.json()["detail"]) == (401, "user is no longer active")


async def test_a_demoted_admins_token_no_longer_opens_admin_routes(make_user, database):
    former = await make_user("admin")
    method, path = ADMIN_ROUTE
    assert (await former.http.request(method, path, json={"payloads": []})).status_code == 200
    await set_user(database, former.username, role="user")

    async def forbidden():
        answer = await former.http.request(method, path, json={"payloads": []})
        return answer if answer.status_code != 200 else None

    answer = await eventually(forbidden, "the demoted admin's token to lose its admin role")
    assert answer.status_code == 403
    assert (await former.http.get("/api/v1/users/me")).json()["role"] == "user"
