"""What the news screen needs from the API: each source's last run, drafts with their source, and an editor's
decision on a draft (publish or reject, once), through HTTP against the real worker, Temporal and emulators."""

import os
from datetime import UTC, datetime

import httpx

from tests.support.histories import record
from tests.support.news import ITEMS, NEWS_PER_FEED, discover, drafts_of, make_sources


async def test_sources_show_their_last_runs_result(stack, admin, feeds, temporal):
    good, bad = await make_sources(admin, stack, 2)
    await feeds.fault(path=httpx.URL(bad["feed_url"]).path, kind="status", status=410)
    assert bad["last_run"] is None  # never run yet

    job_id = await discover(admin, [good, bad])
    assert (await admin.wait_job(job_id))["status"] == "completed"

    listed = {s["id"]: s for s in await admin.ok("GET", "/api/v1/news/sources")}
    ran = listed[good["id"]]["last_run"]
    assert (ran["job_id"], ran["entries"], ran["drafts"], ran["error"]) == (job_id, ITEMS, NEWS_PER_FEED, None)
    failed = listed[bad["id"]]["last_run"]
    assert (failed["job_id"], failed["entries"], failed["drafts"]) == (job_id, None, None)
    assert "410" in failed["error"]
    assert datetime.fromisoformat(failed["finished_at"]) <= datetime.now(UTC)
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job_id, "NewsDiscovery-last-run")

    # The next run replaces it: the feed is back, and the source reads as healthy again.
    await feeds.reset()
    second = await discover(admin, [bad])
    assert (await admin.wait_job(second))["status"] == "completed"
    again = (await admin.ok("GET", f"/api/v1/news/sources/{bad['id']}"))["last_run"]
    assert (again["job_id"], again["drafts"], again["error"]) == (second, NEWS_PER_FEED, None)


async def test_drafts_carry_their_source_and_page_by_source_and_since(stack, admin):
    first, second = await make_sources(admin, stack, 2, items=5)
    job_id = await discover(admin, [first, second])
    assert (await admin.wait_job(job_id))["status"] == "completed"
    mine = (await drafts_of(admin, job_id))["items"]
    assert {d["source_name"] for d in mine} == {first["name"], second["name"]}
    assert all(d["source_name"] == (first if d["source_id"] == first["id"] else second)["name"] for d in mine)

    params = {"source_id": first["id"], "limit": 2, "offset": 0}
    page = await admin.ok("GET", "/api/v1/news/drafts", params=params)
    of_first = [d for d in mine if d["source_id"] == first["id"]]
    assert page["total"] == len(of_first) > 2 and len(page["items"]) == 2
    newest = max(d["created_at"] for d in mine)
    later = await admin.ok("GET", "/api/v1/news/drafts", params={"since": newest, "run_id": job_id})
    assert later["total"] == sum(d["created_at"] == newest for d in mine)
    naive = await admin.http.get("/api/v1/news/drafts", params={"since": "2000-01-01T00:00:00", "run_id": job_id})
    # A timestamp with no zone is read as UTC, not refused by the database with a 500.
    assert naive.status_code == 200 and naive.json()["total"] == len(mine), naive.text


async def test_a_draft_is_published_or_rejected_once(stack, admin, make_user):
    [source] = await make_sources(admin, stack, 1, items=5)
    job_id = await discover(admin, [source])
    assert (await admin.wait_job(job_id))["status"] == "completed"
    one, two, three, *_ = (await drafts_of(admin, job_id))["items"]
    drafts = "/api/v1/news/drafts"

    user = await make_user("user")
    await user.ok("POST", f"{drafts}/{one['id']}/publish", 403)
    manager = await make_user("manager")
    published = await manager.ok("POST", f"{drafts}/{one['id']}/publish")
    assert (published["status"], published["source_name"], published["summary"]) == (
        "published", source["name"], one["summary"],
    )  # fmt: skip
    rejected = await admin.ok("POST", f"{drafts}/{two['id']}/reject")
    assert rejected["status"] == "rejected"

    # A decision is made once: a stale screen's second click, or the other decision, is a 409 naming the status.
    again = await admin.ok("POST", f"{drafts}/{one['id']}/publish", 409)
    assert "published" in again["detail"]
    await admin.ok("POST", f"{drafts}/{one['id']}/reject", 409)
    await admin.ok("POST", f"{drafts}/{two['id']}/publish", 409)
    await admin.ok("PATCH", f"{drafts}/{two['id']}", 409, json={"status": "draft"})
    await admin.ok("POST", f"{drafts}/999999999/publish", 404)
    # Editing the text is not a decision: it goes on whatever the status.
    edited = await admin.ok(
        "PATCH", f"{drafts}/{two['id']}", json={"summary": "Kept for the record", "status": "rejected"}
    )
    assert (edited["status"], edited["summary"]) == ("rejected", "Kept for the record")
    # PATCH decides like the buttons do.
    assert (await admin.ok("PATCH", f"{drafts}/{three['id']}", json={"status": "published"}))["status"] == "published"

    by_status = {
        status: {d["id"] for d in (await admin.ok("GET", drafts, params={"run_id": job_id, "status": status}))["items"]}
        for status in ("draft", "published", "rejected")
    }
    assert by_status["published"] == {one["id"], three["id"]} and by_status["rejected"] == {two["id"]}
    assert not by_status["draft"] & {one["id"], two["id"], three["id"]}
