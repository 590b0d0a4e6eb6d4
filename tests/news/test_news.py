"""News discovery end to end through HTTP, against the real worker, Temporal, Postgres and emulators."""

import asyncio
import os

import httpx
from sqlalchemy import text

from devstack.clients import eventually
from tests.support.histories import record
from tests.support.news import NEWS_PER_FEED, discover, discover_failing_second_batch_once, drafts_of, make_sources


async def drafts_in_db(database, job_id: str) -> int:
    async with database.connect() as conn:
        return await conn.scalar(text("select count(*) from news_post where run_id = :r"), {"r": job_id})


async def test_discovery_shows_drafts_mid_run_and_counts_match(stack, admin, llm, database, temporal):
    sources = await make_sources(admin, stack, 6)
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=400)
    job_id = await discover(admin, sources, max_parallel=2)

    snapshots, seen_mid_run = [], False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while loop.time() < deadline:
        snap = await admin.job(job_id)
        snapshots.append(snap)
        if snap["status"] == "running" and (await drafts_of(admin, job_id))["total"] > 0:
            seen_mid_run = True
        if snap["status"] in ("completed", "failed", "cancelled"):
            break
        await asyncio.sleep(0.1)  # the poll interval of this deadline loop
    else:
        raise AssertionError(f"job {job_id} did not close within 60 s: {snapshots[-1]}")

    assert seen_mid_run, "no draft was visible while discovery was still running"
    processed = [s["processed"] for s in snapshots]
    assert processed == sorted(processed), f"progress went backwards: {processed}"
    assert snap["status"] == "completed" and snap["type"] == "news_discovery" and snap["owner"] == "admin"
    assert (snap["total"], snap["processed"], snap["succeeded"], snap["failed"]) == (6, 6, 6, 0)
    assert snap["percent"] == 100.0
    result = snap["result"]
    assert result["drafts_created"] == NEWS_PER_FEED * 6
    assert (await drafts_of(admin, job_id))["total"] == result["drafts_created"] == await drafts_in_db(database, job_id)

    old = await admin.ok("GET", f"/api/v1/news/discover/{job_id}")
    assert (old["status"], old["processed_sources"], old["news_found"]) == ("completed", 6, NEWS_PER_FEED * 6)
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job_id, "NewsDiscovery-parallel")


async def test_draft_can_be_edited_while_discovery_runs(stack, admin, llm):
    sources = await make_sources(admin, stack, 4)
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=500)
    job_id = await discover(admin, sources, max_parallel=1)

    async def some_drafts():
        page = await drafts_of(admin, job_id)
        return page if page["total"] else None

    drafts = await eventually(some_drafts, "a first draft", within=30)
    draft = drafts["items"][0]
    edited = await admin.ok("PATCH", f"/api/v1/news/drafts/{draft['id']}", json={"title": "Edited by a person"})
    assert edited["title"] == "Edited by a person"
    assert (await admin.job(job_id))["status"] == "running"
    assert (await admin.wait_job(job_id))["status"] == "completed"
    items = (await drafts_of(admin, job_id))["items"]
    assert next(d for d in items if d["id"] == draft["id"])["title"] == "Edited by a person"


async def test_cancel_mid_run_stops_work(stack, admin, llm, database, temporal):
    sources = await make_sources(admin, stack, 5)
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=700)
    job_id = await discover(admin, sources, max_parallel=1)
    await eventually(lambda: _processed(admin, job_id), "the first source to finish", within=30)

    await admin.ok("POST", f"/api/v1/jobs/{job_id}/cancel", 202, json={"reason": "enough"})
    snap = await admin.wait_job(job_id)
    assert snap["status"] == "cancelled"
    assert 1 <= snap["processed"] < 5
    assert "enough" in snap["message"]

    # The workflow waited for its activities to acknowledge the cancel: nothing is left running
    # that could still write a draft.
    description = await temporal.get_workflow_handle(job_id).describe()
    assert len(description.raw_description.pending_activities) == 0
    at_close = await drafts_in_db(database, job_id)
    assert at_close == snap["result"]["drafts_created"]
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job_id, "NewsDiscovery-cancelled")
    assert (await admin.ok("POST", f"/api/v1/jobs/{job_id}/cancel", 409)) is not None


async def _processed(api, job_id):
    return (await api.job(job_id))["processed"] >= 1


async def test_failing_feed_is_recorded_and_others_complete(stack, admin, feeds, temporal):
    good = await make_sources(admin, stack, 3)
    [bad] = await make_sources(admin, stack, 1)
    feed_path = httpx.URL(bad["feed_url"]).path
    # A 5xx is worth retrying (tests/news/test_news_faults.py: for as long as the source's budget lasts); then the feed
    # turns out to be gone, which is final.
    await feeds.fault(path=feed_path, kind="status", status=500, retry_after=0.05, times=2)
    await feeds.fault(path=feed_path, kind="status", status=410)
    job_id = await discover(admin, [*good, bad])
    snap = await admin.wait_job(job_id)
    assert snap["status"] == "completed"
    assert (snap["succeeded"], snap["failed"]) == (3, 1)
    assert [e["item"] for e in snap["errors"]] == [bad["name"]]
    assert "410" in snap["errors"][0]["error"] and "2 × HTTP 500" in snap["errors"][0]["error"]
    assert await feeds.requests(feed_path) == 3
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job_id, "NewsDiscovery-failed-source")
    assert snap["result"]["drafts_created"] == NEWS_PER_FEED * 3


async def test_malformed_and_missing_feeds_fail_without_retry_storm(stack, admin, feeds):
    [broken] = await make_sources(admin, stack, 1, path="broken")
    missing = await admin.ok(
        "POST", "/api/v1/news/sources", 201,
        json={"name": "Gone", "feed_url": f"{stack.feeds_url}/nowhere.rss", "topic": "x"},
    )  # fmt: skip
    job_id = await discover(admin, [broken, missing])
    snap = await admin.wait_job(job_id)
    assert (snap["status"], snap["failed"]) == ("completed", 2)
    errors = {e["item"]: e["error"] for e in snap["errors"]}
    assert "malformed" in errors[broken["name"]]
    assert "404" in errors["Gone"]
    # Both are final errors: one request each, no retries.
    assert await feeds.requests("/nowhere.rss") == 1
    assert await feeds.requests(httpx.URL(broken["feed_url"]).path) == 1


async def test_llm_rate_limit_is_honoured(stack, admin, llm):
    sources = await make_sources(admin, stack, 1, items=5)
    await llm.fault(path="/v1/chat/completions", kind="status", status=429, retry_after=2, times=2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    job_id = await discover(admin, sources)
    snap = await admin.wait_job(job_id)
    elapsed = loop.time() - started
    assert snap["status"] == "completed" and snap["succeeded"] == 1
    assert await llm.requests("/v1/chat/completions") == 3
    # Two waits of Retry-After (2 s each), not the policy's 0.5 s and 1 s backoff.
    assert elapsed >= 4.0


async def test_a_retry_resumes_after_the_last_batch_judged(stack, admin, llm):
    """A source's batches each take well under a heartbeat interval; the checkpoint is still the last batch done."""
    [source] = await make_sources(admin, stack, 1, items=60)  # 3 batches of 20 entries
    snap = await discover_failing_second_batch_once(admin, llm, [source])
    assert snap["status"] == "completed" and snap["result"]["drafts_created"] == 60 - len(range(3, 60, 4))
    # Batch 1, batch 2 failing, then the retry from batch 2: batches 2 and 3. From the start it would be 5.
    assert await llm.requests("/v1/chat/completions") == 4
