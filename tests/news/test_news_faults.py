"""News discovery under outside faults: a transient fault (5xx, a dropped connection) never ends a source while the
feed keeps coming back, a permanent one ends it at once, and the job says which faults a source met. A retry that
finds new entries in its feed, at the top or inside what it judged, judges them too (the checkpoint names entries
by a digest of their url, not by position)."""

import json

import httpx

from activities.news import SourceCheckpoint
from clients.feeds import FeedEntry
from tests.support.news import NEWS_PER_FEED, discover, discover_failing_second_batch_once, drafts_of, make_sources
from workflows.news import SOURCE_RETRY


async def test_a_feed_failing_longer_than_any_attempt_count_still_gives_every_draft(stack, admin, feeds):
    good = await make_sources(admin, stack, 2)
    [flaky] = await make_sources(admin, stack, 1)
    feed_path = httpx.URL(flaky["feed_url"]).path
    # 12 failures in a row, more than the 8 attempts a source used to have; then the feed answers again. The 503s
    # name a short Retry-After, so the retries come quickly.
    await feeds.fault(path=feed_path, kind="drop", times=2)
    await feeds.fault(path=feed_path, kind="status", status=503, retry_after=0.05, times=10)
    job_id = await discover(admin, [*good, flaky])
    snap = await admin.wait_job(job_id, within=120)
    assert (snap["status"], snap["succeeded"], snap["failed"]) == ("completed", 3, 0), snap["errors"]
    assert snap["result"]["drafts_created"] == NEWS_PER_FEED * 3
    assert (await drafts_of(admin, job_id))["total"] == NEWS_PER_FEED * 3
    assert await feeds.requests(feed_path) == 13
    # Which faults the source met, by kind, each counted once by the attempt it failed.
    assert snap["details"]["faults"] == {flaky["name"]: "10 × HTTP 503, 2 × RemoteProtocolError"}
    assert SOURCE_RETRY.maximum_attempts == 0, "attempts are not what bounds a source"


async def test_a_permanent_error_ends_the_source_at_once_naming_the_faults_before_it(stack, admin, feeds):
    [source] = await make_sources(admin, stack, 1)
    feed_path = httpx.URL(source["feed_url"]).path
    await feeds.fault(path=feed_path, kind="status", status=503, retry_after=0.05, times=3)
    await feeds.fault(path=feed_path, kind="status", status=404)  # the feed is gone for good
    job_id = await discover(admin, [source])
    snap = await admin.wait_job(job_id, within=120)
    assert (snap["status"], snap["failed"]) == ("completed", 1)
    [error] = snap["errors"]
    assert error["item"] == source["name"]
    assert "answered HTTP 404" in error["error"] and "(after: 3 × HTTP 503)" in error["error"]
    assert await feeds.requests(feed_path) == 4, "the 404 was not retried"


async def test_a_retry_judges_the_entries_that_came_in_at_the_top_meanwhile(stack, admin, llm, feeds):
    """Attempt 1 reads entries 20-49 and judges 20-39; its second batch fails. The feed then gains entries 10-19 at
    its top: a retry resuming at position 20 would start at entry 30 and never judge 10-19."""
    body = {"name": "Live feed", "topic": "technology",
            "feed_url": f"{stack.feeds_url}/feeds/live.rss?items=30&offset=20&rise=10"}  # fmt: skip
    source = await admin.ok("POST", "/api/v1/news/sources", 201, json=body)
    snap = await discover_failing_second_batch_once(admin, llm, [source])
    job_id = snap["job_id"]
    assert snap["status"] == "completed" and snap["succeeded"] == 1, snap["errors"]
    assert await feeds.requests("/feeds/live.rss") == 2, "the retry fetched the feed again"
    news = [i for i in range(10, 50) if i % 4 != 3]
    urls = {d["url"] for d in (await drafts_of(admin, job_id))["items"]}
    missing = [i for i in news if f"{stack.feeds_url}/articles/live/{i}" not in urls]
    assert not missing, f"entries never judged: {missing}"
    assert snap["result"]["drafts_created"] == len(news)
    # Batch 1, batch 2 failing, then one batch for what is left: the new top and the old tail, nothing judged twice.
    assert await llm.requests("/v1/chat/completions") == 3
    assert snap["details"]["faults"] == {"Live feed": "1 × HTTP 500"}


async def test_every_4xx_but_a_timeout_or_rate_limit_is_final_and_so_is_a_body_that_does_not_unpack(
    stack, admin, feeds
):
    """The 1C client's rule: a 4xx is the same answer next time, except 408, 425 and 429. Each feed fails once and
    then answers: a final error ends its source on that one request, a transient one is retried and heals."""
    final = [406, 412, 414, 415, 422, 431]
    transient = [408, 425, 429]
    sources = await make_sources(admin, stack, len(final) + len(transient), items=5)
    for source, status in zip(sources, final + transient, strict=True):
        await feeds.fault(
            path=httpx.URL(source["feed_url"]).path, kind="status", status=status, retry_after=0.05, times=1
        )
    [corrupt] = await make_sources(admin, stack, 1, path="corrupt")
    job_id = await discover(admin, [*sources, corrupt], max_parallel=10)
    snap = await admin.wait_job(job_id, within=120)
    errors = {e["item"]: e["error"] for e in snap["errors"]}
    by_status = dict(zip(final + transient, sources, strict=True))
    assert set(errors) == {by_status[s]["name"] for s in final} | {corrupt["name"]}, errors
    for status in final:
        assert f"answered HTTP {status}" in errors[by_status[status]["name"]]
        assert await feeds.requests(httpx.URL(by_status[status]["feed_url"]).path) == 1, f"HTTP {status} was retried"
    for status in transient:
        assert await feeds.requests(httpx.URL(by_status[status]["feed_url"]).path) == 2
    assert "invalid block type" in errors[corrupt["name"]]
    assert await feeds.requests(httpx.URL(corrupt["feed_url"]).path) == 1, "a corrupt body was retried"


async def test_a_retry_judges_the_entries_that_came_in_inside_what_was_judged(stack, admin, llm, feeds):
    """Attempt 1 reads entries 0-4 and 9-43 (5-8 are not out yet) and judges 0-4 and 9-23; its second batch fails.
    Entries 5-8 then come in between 4 and 9: a checkpoint naming a run by its ends (0 to 23) would take them as
    judged."""
    body = {"name": "Late feed", "topic": "technology",
            "feed_url": f"{stack.feeds_url}/feeds/late.rss?items=44&late=5:4"}  # fmt: skip
    source = await admin.ok("POST", "/api/v1/news/sources", 201, json=body)
    snap = await discover_failing_second_batch_once(admin, llm, [source])
    job_id = snap["job_id"]
    assert snap["status"] == "completed" and snap["succeeded"] == 1, snap["errors"]
    assert await feeds.requests("/feeds/late.rss") == 2, "the retry fetched the feed again"
    urls = {d["url"] for d in (await drafts_of(admin, job_id))["items"]}
    missing = [i for i in range(44) if i % 4 != 3 and f"{stack.feeds_url}/articles/late/{i}" not in urls]
    assert not missing, f"entries never judged: {missing}"
    # Batch 1, batch 2 failing, then 24 entries left (5-8 and 24-43): two batches, nothing judged twice.
    assert await llm.requests("/v1/chat/completions") == 4


def _entries(*names: str) -> list[FeedEntry]:
    return [FeedEntry(url=f"https://news.example/{name}", title=name) for name in names]


def test_a_checkpoint_names_each_judged_entry_in_a_few_characters():
    feed = _entries(*map(str, range(1000)))
    checkpoint = SourceCheckpoint()
    checkpoint.resume(feed)
    checkpoint.record(feed[:500])
    # Read back as a retry reads it, with an entry come in among the judged ones and one gone from them.
    resumed = SourceCheckpoint.model_validate(checkpoint.model_dump(mode="json"))
    now = [*feed[:100], *_entries("new"), *feed[101:]]
    assert resumed.judged_in(now) == [True] * 100 + [False] + [True] * 399 + [False] * 500
    assert len(json.dumps(checkpoint.model_dump(mode="json"))) < 500 * 10, "not a hash per entry"


def test_a_checkpoint_heartbeated_by_the_code_before_digests_still_resumes_where_it_stopped():
    """Attempts before digests named runs of judged entries by their ends; their retry goes on from there, and
    from then on the checkpoint names those entries by digest."""
    old = {"counts": {"HTTP 500": 1}, "judged": [["https://news.example/a", "https://news.example/c"]]}
    checkpoint = SourceCheckpoint.model_validate(old)
    feed = _entries("new", "a", "b", "c", "d")
    assert checkpoint.resume(feed) == [False, True, True, True, False]
    assert checkpoint.counts == {"HTTP 500": 1} and checkpoint.judged == []
    assert SourceCheckpoint.model_validate(checkpoint.model_dump(mode="json")).judged_in(feed[1:]) == [
        True,
        True,
        True,
        False,
    ]
