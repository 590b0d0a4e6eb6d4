"""Services are not jobs: the tracker's inbox drainer is listed apart with its health, left out of the jobs list, and
no cancel route stops it. Cancel-many (admins) takes the list's filters and never reaches a service."""

from devstack.clients import eventually
from tests.support.news import discover, make_sources
from workflows.tracker import WEBHOOK_OWNER

TEST_QUEUE = "longrun-test"  # the stack fixture's deployment (devstack/stack.py)

SERVICES = "/api/v1/services"


async def drainer(admin) -> dict:
    """The test stack's own drainer: other tests' deployments share its Temporal, each with a drainer of its own."""
    own = f"tracker-inbox-{TEST_QUEUE}"

    async def listed():
        services = (await admin.ok("GET", SERVICES))["services"]
        inbox = next((s for s in services if s["job_id"] == own), None)
        return inbox if inbox and inbox["running"] else None

    return await eventually(listed, "the inbox drainer to run (the worker starts it)", within=60)


async def test_the_inbox_drainer_is_a_service_with_its_health_and_no_job(stack, admin, make_user):
    inbox = await drainer(admin)
    assert inbox["status"] == "running" and inbox["job_id"].startswith("tracker-inbox")
    assert isinstance(inbox["backlog"], int) and inbox["started_at"] and "tracker" in inbox["does"]
    assert (await admin.job(inbox["job_id"]))["kind"] == "service"

    listed = {job["job_id"] for job in (await admin.ok("GET", "/api/v1/jobs", params={"limit": 1000}))["jobs"]}
    assert inbox["job_id"] not in listed
    named = (await admin.ok("GET", "/api/v1/jobs", params={"type": "tracker_inbox"}))["jobs"]
    assert (inbox["job_id"], "service") in [(j["job_id"], j["kind"]) for j in named if j["status"] == "running"]
    assert {j["kind"] for j in named} == {"service"}

    user = await make_user("user")
    assert (await user.http.get(SERVICES)).status_code == 403


async def test_no_cancel_route_stops_a_service(stack, admin):
    inbox = await drainer(admin)
    job_id = inbox["job_id"]
    for url, params in (
        (f"/api/v1/jobs/{job_id}/cancel", {}),
        (f"/api/v1/jobs/{job_id}/cancel", {"force": "true"}),
        (f"/api/v1/tasks/{job_id}/cancel", {}),
    ):
        response = await admin.http.post(url, params=params)
        assert response.status_code == 409, (url, params, response.text)
        assert "is a service, not a job" in response.json()["detail"]
    refused = await admin.http.post("/api/v1/jobs/cancel", json={"type": "tracker_inbox"})
    assert refused.status_code == 409 and "service" in refused.json()["detail"]
    # The drainer's owner is the webhook's: cancelling by that owner matches it, were services not left out.
    spared = await admin.ok("POST", "/api/v1/jobs/cancel", 202, json={"owner": WEBHOOK_OWNER})
    assert job_id not in spared["job_ids"]

    still = await admin.job(job_id)
    assert still["status"] == "running" and still["kind"] == "service"


async def test_cancel_many_cancels_the_open_jobs_its_filters_match(stack, admin, make_user, feeds):
    await feeds.fault(path="/feeds/", kind="latency", latency_ms=3000)  # every discovery stays open for a while
    first, second = await make_user("user"), await make_user("user")
    sources = await make_sources(admin, stack, 2, items=2)
    mine = [await discover(first, sources[:1], max_parallel=1) for _ in range(2)]
    theirs = await discover(second, sources[1:], max_parallel=1)

    body = {"type": "news_discovery", "owner": first.username, "reason": "too many"}
    cancelled = await admin.ok("POST", "/api/v1/jobs/cancel", 202, json=body)
    assert sorted(cancelled["job_ids"]) == sorted(mine) and cancelled["cancelled"] == 2
    for job_id in mine:
        assert (await admin.wait_job(job_id, within=60))["status"] == "cancelled"
    assert (await admin.job(theirs))["status"] not in ("cancelled", "cancelling")

    again = await admin.ok("POST", "/api/v1/jobs/cancel", 202, json=body)
    assert again == {"cancelled": 0, "job_ids": []}
    closed = await admin.http.post("/api/v1/jobs/cancel", json={"status": "completed"})
    assert closed.status_code == 422 and "status" in str(closed.json()["detail"])
    assert (await first.http.post("/api/v1/jobs/cancel", json={"owner": second.username})).status_code == 403
    await feeds.clear_faults()
    await admin.ok("POST", f"/api/v1/jobs/{theirs}/cancel", 202, json={})
