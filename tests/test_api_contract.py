"""What callers get wrong, and what they may not do: clear 4xx answers, never a 500."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import httpx
import jwt
import pytest

from api.routes.health import NO_ADMIN
from devstack import processes as ps
from devstack.clients import Api, eventually
from devstack.stack import ADMIN_PASSWORD
from tests.support.deployment import deployment, isolated
from tests.support.news import discover, make_sources


async def test_unknown_source_id_is_named(admin):
    response = await admin.http.post("/api/v1/news/discover", json={"source_ids": [987654]})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "source_ids"] and "987654" in error["msg"]


async def test_max_parallel_zero_is_named(admin):
    response = await admin.http.post("/api/v1/news/discover", json={"max_parallel": 0})
    assert response.status_code == 422
    assert ["body", "max_parallel"] in [e["loc"] for e in response.json()["detail"]]


async def test_malformed_json_is_422(admin):
    response = await admin.http.post(
        "/api/v1/news/discover", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    "feed_url",
    ["not a url", "javascript:alert(document.cookie)", "https://example.com/" + "ж" * 1000],  # the last: 6000 encoded
)
async def test_bad_feed_url_is_named(admin, feed_url):
    response = await admin.http.post("/api/v1/news/sources", json={"name": "x", "feed_url": feed_url})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "feed_url"]


async def test_no_token_is_401(stack):
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        for method, url in [("GET", "/api/v1/jobs"), ("GET", "/api/v1/jobs/x"), ("POST", "/api/v1/news/discover")]:
            response = await http.request(method, url, json={})
            assert response.status_code == 401, (method, url)
        assert (await http.get("/api/v1/health")).json() == {
            "status": "ok",
            "database": "ok",
            "temporal": "ok",
            "setup": "ok",
        }


async def test_forged_and_expired_tokens_are_401(stack, admin):
    claims = {"sub": "admin", "uid": 1, "role": "admin", "type": "access"}
    forged = jwt.encode(
        {**claims, "exp": datetime.now(UTC) + timedelta(hours=1)}, "not-the-secret-" + "y" * 32, "HS256"
    )
    secret = stack.env()["LONGRUN_JWT_SECRET"]
    expired = jwt.encode({**claims, "exp": datetime.now(UTC) - timedelta(seconds=1)}, secret, "HS256")
    for token, why in [(forged, "invalid token"), (expired, "token expired"), (admin.token + "x", "invalid token")]:
        response = await Api(stack.api_url, token).http.get("/api/v1/jobs")
        assert (response.status_code, response.json()["detail"]) == (401, why)


async def test_login_and_refresh(stack):
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        bad = await http.post("/api/login/", json={"username": "admin", "password": "wrong"})
        assert bad.status_code == 401
        login = (await http.post("/api/login/", json={"username": "admin", "password": ADMIN_PASSWORD})).json()
        assert login["user"] == {"id": login["user"]["id"], "username": "admin", "role": "admin"}
        refreshed = await http.post("/api/token/refresh/", json={"refresh": login["refresh"]})
        assert refreshed.status_code == 200
        jobs = await http.get("/api/v1/jobs", headers={"Authorization": f"Bearer {refreshed.json()['access']}"})
        assert jobs.status_code == 200
        # An access token is not a refresh token, nor the other way round.
        assert (await http.post("/api/token/refresh/", json={"refresh": login["access"]})).status_code == 401
        wrong_kind = await http.get("/api/v1/jobs", headers={"Authorization": f"Bearer {login['refresh']}"})
        assert wrong_kind.status_code == 401


async def test_roles(make_user):
    user = await make_user("user")
    me = {"id": ANY, "username": user.username, "role": "user", "telegram": None}
    assert (await user.ok("GET", "/api/v1/users/me")) == me
    assert (await user.http.post("/api/v1/news/sources", json={"name": "x", "feed_url": "http://a"})).status_code == 403
    new = {"username": "someone", "password": "password-1", "role": "admin"}
    assert (await user.http.post("/api/v1/users", json=new)).status_code == 403
    assert (await user.http.post("/api/v1/jobs/cleanup")).status_code == 403
    manager = await make_user("manager")
    await manager.ok("POST", "/api/v1/news/sources", 201, json={"name": "m", "feed_url": "http://a.example/rss"})


async def test_another_users_job_is_404(stack, admin, make_user):
    alice, bob = await make_user("user"), await make_user("user")
    sources = await make_sources(admin, stack, 1, items=3)
    job_id = await discover(alice, sources)
    assert (await bob.http.get(f"/api/v1/jobs/{job_id}")).status_code == 404
    assert (await bob.http.post(f"/api/v1/jobs/{job_id}/cancel")).status_code == 404
    assert (await bob.http.get(f"/api/v1/news/discover/{job_id}")).status_code == 404
    assert (await bob.http.get("/api/v1/jobs/no-such-job")).status_code == 404
    assert (await alice.wait_job(job_id))["owner"] == alice.username
    assert (await admin.job(job_id))["owner"] == alice.username

    listed = {j["job_id"] for j in (await alice.ok("GET", "/api/v1/jobs"))["jobs"]}
    assert listed == {job_id}
    assert not (await bob.ok("GET", "/api/v1/jobs"))["jobs"]
    everyone = await admin.ok("GET", "/api/v1/jobs", params={"type": "news_discovery", "limit": 1000})
    assert job_id in {j["job_id"] for j in everyone["jobs"]}
    done = await alice.ok("GET", "/api/v1/jobs", params={"status": "completed"})
    assert [j["status"] for j in done["jobs"]] == ["completed"]
    assert not (await alice.ok("GET", "/api/v1/jobs", params={"status": "running"}))["jobs"]
    assert (await alice.http.get("/api/v1/jobs", params={"status": "nonsense"})).status_code == 422


async def test_force_cancel_is_for_admins(stack, admin, make_user, llm):
    user = await make_user("user")
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=3000)
    job_id = await discover(user, await make_sources(admin, stack, 1, items=3))
    assert (await user.http.post(f"/api/v1/jobs/{job_id}/cancel?force=true")).status_code == 403
    await admin.ok("POST", f"/api/v1/jobs/{job_id}/cancel?force=true", 202)
    snap = await user.wait_job(job_id)
    assert snap["status"] == "cancelled" and "Temporal" in snap["message"]


async def test_cleanup_deletes_closed_jobs(stack, admin):
    # A Temporal of its own: a cleanup deletes every closed job it sees, and the other tests' jobs are read after
    # them (tests/test_history_secrets.py scans every job type the suite ran).
    async with isolated(stack, "cleanup") as own:
        temporal = own.env["LONGRUN_TEMPORAL_ADDRESS"]
        async with deployment(stack, admin, "cleanup", "cleanup", LONGRUN_TEMPORAL_ADDRESS=temporal) as api:
            job_id = await discover(api, await make_sources(admin, stack, 1, items=3))
            await api.wait_job(job_id)
            kept = await api.ok("POST", "/api/v1/jobs/cleanup", params={"max_age_hours": 1})
            assert (await api.http.get(f"/api/v1/jobs/{job_id}")).status_code == 200
            deleted = await api.ok("POST", "/api/v1/jobs/cleanup", params={"max_age_hours": 0})
            assert deleted["deleted"] >= 1 and kept["deleted"] == 0

            async def gone():
                return (await api.http.get(f"/api/v1/jobs/{job_id}")).status_code == 404

            # Temporal deletes asynchronously: on the dev server the execution goes about 30 s after the call.
            await eventually(gone, f"job {job_id} to be deleted", within=90, interval=1)


async def test_a_terminated_job_reads_as_failed_with_the_reason(stack, admin, llm, temporal):
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=5000)
    job_id = await discover(admin, await make_sources(admin, stack, 1, items=3))
    await temporal.get_workflow_handle(job_id).terminate(reason="operator stopped it")
    snap = await admin.job(job_id)
    assert snap["status"] == "failed" and "operator stopped it" in snap["message"]
    assert snap["result"] == {"status": "failed", "error": snap["message"]}
    listed = await admin.ok("GET", "/api/v1/jobs", params={"status": "failed", "type": "news_discovery"})
    assert job_id in {j["job_id"] for j in listed["jobs"]}


async def test_every_endpoint_documents_a_typed_answer(stack):
    """The schema frontends and fuzzers rely on: every success answer names its fields."""
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        spec = (await http.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]

    def fields(schema: dict) -> set[str]:
        if "$ref" in schema:
            return fields(schemas[schema["$ref"].rsplit("/", 1)[1]])
        if schema.get("type") == "array":
            return fields(schema["items"])
        return set(schema.get("properties", {}))

    untyped = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                content = response.get("content", {})
                if content and all(kind.startswith("image/") for kind in content):
                    continue  # a file, named by its media type
                schema = content.get("application/json", {}).get("schema", {})
                if not fields(schema):
                    untyped.append(f"{method.upper()} {path} {code}")
    assert untyped == []
    snapshot = fields(
        spec["paths"]["/api/v1/jobs/{job_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    )
    assert {"job_id", "type", "owner", "status", "processed", "total", "eta_seconds", "details", "result"} <= snapshot


async def test_health_is_503_until_bootstrap_has_made_an_admin(stack):
    """Every part up is not enough: until there is an admin nobody can sign in, and health says so."""
    url = stack.create_database(f"no_admin_{uuid.uuid4().hex[:8]}", bootstrap=False)
    env = {"LONGRUN_DATABASE_URL": url}
    api = stack.start_api("api-no-admin", ready=503, **env)
    try:
        async with httpx.AsyncClient(base_url=api) as http:
            before = await http.get("/api/v1/health")
            assert before.status_code == 503
            assert before.json() == {"status": "degraded", "database": "ok", "temporal": "ok", "setup": NO_ADMIN}
            bootstrap = ["-m", "devstack.bootstrap"]
            await asyncio.to_thread(
                lambda: ps.run_python("bootstrap-no-admin", bootstrap, stack.env(**env), stack.logs, timeout=60)
            )
            after = await http.get("/api/v1/health")
        assert after.status_code == 200 and after.json()["setup"] == "ok"
    finally:
        stack.stop_named("api-no-admin")


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (r'{"name": "a\u0000b", "feed_url": "https://example.com/feed"}', ["body", "name"]),
        (r'{"name": "lone \ud800", "feed_url": "https://example.com/feed"}', ["body", "name"]),
        (r'{"name": "x", "feed_url": "https://example.com/feed", "topic": "\udc00"}', ["body", "topic"]),
    ],
)
async def test_text_no_database_can_store_is_a_422_naming_where(admin, body, loc):
    response = await admin.http.post(
        "/api/v1/news/sources", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc and "NUL character or an unpaired surrogate" in error["msg"]


async def test_a_nul_in_a_query_is_named_and_an_emoji_as_a_surrogate_pair_is_text(admin):
    response = await admin.http.get("/api/v1/news/drafts", params={"status": "draft\x00"})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["query", "status"])
    body = r'{"name": "news \ud83d\udcf0 daily", "feed_url": "https://example.com/emoji.rss"}'
    created = await admin.http.post(
        "/api/v1/news/sources", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert created.status_code == 201 and created.json()["name"] == "news \U0001f4f0 daily"
    await admin.ok("DELETE", f"/api/v1/news/sources/{created.json()['id']}", 204)


async def test_a_patch_setting_a_required_field_to_null_is_named(admin):
    source = await admin.ok("POST", "/api/v1/news/sources", 201, json={"name": "n", "feed_url": "https://a.example/"})
    for field in ("topic", "name", "active"):
        response = await admin.http.patch(f"/api/v1/news/sources/{source['id']}", json={field: None})
        assert response.status_code == 422, (field, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", field]
    assert (await admin.ok("GET", f"/api/v1/news/sources/{source['id']}"))["name"] == "n", "nothing was changed"
    await admin.ok("DELETE", f"/api/v1/news/sources/{source['id']}", 204)


async def test_an_agent_patched_to_an_unknown_provider_is_named(admin):
    [agent, *_] = await admin.ok("GET", "/api/v1/agents")
    response = await admin.http.patch(f"/api/v1/agents/{agent['id']}", json={"provider_id": 2_000_000_000})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "provider_id"])


async def test_a_rule_cannot_lose_its_last_condition(admin):
    rule = await admin.ok("POST", "/api/v1/sync-1c/rules", 201, json={"category": "c", "purpose_contains": "rent"})
    response = await admin.http.patch(f"/api/v1/sync-1c/rules/{rule['id']}", json={"purpose_contains": None})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "purpose_contains"])
    with_inn = await admin.ok("POST", "/api/v1/sync-1c/rules", 201, json={"category": "c", "inn": "7701234567",
                                                                         "purpose_contains": "rent"})  # fmt: skip
    patched = await admin.ok("PATCH", f"/api/v1/sync-1c/rules/{with_inn['id']}", json={"purpose_contains": None})
    assert patched["purpose_contains"] is None and patched["inn"] == "7701234567"
    for made in (rule, with_inn):
        await admin.ok("DELETE", f"/api/v1/sync-1c/rules/{made['id']}", 204)
