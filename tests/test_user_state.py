"""A token says who its user was when it was made; the API asks who they are now: a deactivated user's token is
refused and a demoted admin's token no longer opens admin routes, within LONGRUN_USER_STATE_CACHE_SECONDS. The
owners of jobs no person started are not usernames anyone may take."""

from datetime import date

import pytest
from sqlalchemy import text

from devstack.bootstrap import bootstrap
from devstack.clients import Api, eventually
from settings import Settings
from workflows.onec import SyncBankInput, bank_sync_job
from workflows.start import SCHEDULE_OWNER, start_job

ADMIN_ROUTE = ("POST", "/api/v1/codec/decode")


@pytest.mark.parametrize("name", ["schedule", "telegram", "Schedule"])
async def test_the_owners_of_unattended_jobs_are_reserved(admin, name):
    answer = await admin.http.post("/api/v1/users", json={"username": name, "password": "password-1"})
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["detail"]
    assert error["loc"] == ["body", "username"] and "is reserved" in error["msg"]


async def test_an_account_named_like_an_unattended_owner_before_it_was_reserved_owns_none_of_its_jobs(
    stack, admin, onec, temporal, database, make_user
):
    """Names were reserved for new users only: an account that already had one (renamed here in the database, as it
    would have been made before) must still not see, list or cancel the jobs no person started."""
    user = await make_user("manager")
    await rename(database, user.username, SCHEDULE_OWNER)
    await onec.book(seed=18, documents=3000, contractors=50, page_latency_ms=1500)  # slow: it runs for the test
    settings = Settings(temporal_address=stack.temporal_address, task_queue="longrun-test", _env_file=None)
    period = SyncBankInput(date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))
    scheduled = await start_job(temporal, settings, bank_sync_job(period, SCHEDULE_OWNER))
    try:
        named = await Api.login(stack.api_url, SCHEDULE_OWNER, "password-1")
        try:
            for method, path in [
                ("GET", f"/api/v1/jobs/{scheduled.id}"),
                ("GET", f"/api/v1/tasks/{scheduled.id}"),
                ("POST", f"/api/v1/jobs/{scheduled.id}/cancel"),
            ]:
                assert (await named.http.request(method, path)).status_code == 404, (method, path)
            listed = await named.ok("GET", "/api/v1/jobs", 200)
            assert scheduled.id not in [job["job_id"] for job in listed["jobs"]]
        finally:
            await named.close()
        # The job is still there, the schedule's, for an admin.
        assert (await admin.job(scheduled.id))["owner"] == SCHEDULE_OWNER
        assert scheduled.id in [job["job_id"] for job in (await admin.ok("GET", "/api/v1/jobs", 200))["jobs"]]
    finally:
        await admin.http.post(f"/api/v1/jobs/{scheduled.id}/cancel")
        await admin.wait_job(scheduled.id, within=120)
        await rename(database, SCHEDULE_OWNER, user.username)


async def test_bootstrap_refuses_an_admin_named_like_an_unattended_owner(stack, database):
    settings = Settings(
        database_url=stack.pg.database_url, admin_username=SCHEDULE_OWNER, admin_password="password-1", _env_file=None
    )
    with pytest.raises(SystemExit, match="is reserved"):
        await bootstrap(settings)
    async with database.connect() as db:
        made = await db.scalar(text("SELECT count(*) FROM users WHERE username = :name"), {"name": SCHEDULE_OWNER})
    assert made == 0


async def rename(database, username: str, to: str) -> None:
    async with database.begin() as db:
        await db.execute(
            text("UPDATE users SET username = :to WHERE username = :username"), {"to": to, "username": username}
        )


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
