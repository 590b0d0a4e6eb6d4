"""CPU-heavy work stays off the event loops: a feed parse lets heartbeats through, a big feed is read on the
first attempt. Timings are bench/blocking.py's; these tests assert what a blocked loop makes impossible."""

import dataclasses
import threading
from datetime import timedelta

import feedparser
import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment

from clients.feeds import FeedClient
from runtime.heartbeat import heartbeating
from tests.support.news import discover

# How long the instrumented parse waits for a heartbeat before giving up: a deadline, not a pause.
HEARTBEAT_DEADLINE_S = 10.0


async def test_heartbeats_go_out_while_a_feed_is_parsed(stack, monkeypatch):
    parsing, beat_while_parsing = threading.Event(), threading.Event()
    seen: list[bool] = []
    real_parse = feedparser.parse

    def parse_once_a_heartbeat_went_out(content, *args, **kwargs):
        # A parse on the event loop holds the loop, so no heartbeat can go out until it returns: this
        # wait then runs out its deadline and records False.
        parsing.set()
        seen.append(beat_while_parsing.wait(HEARTBEAT_DEADLINE_S))
        return real_parse(content, *args, **kwargs)

    monkeypatch.setattr(feedparser, "parse", parse_once_a_heartbeat_went_out)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=0.3))
    env.on_heartbeat = lambda *details: parsing.is_set() and beat_while_parsing.set()

    async def read_feed(url: str):
        async with heartbeating(), httpx.AsyncClient() as http:
            return await FeedClient(http).fetch(url)

    await env.run(read_feed, f"{stack.feeds_url}/feeds/loop.rss?items=5")
    assert seen == [True], "no heartbeat went out while the feed was being parsed"


async def test_multi_megabyte_feed_is_read_on_the_first_attempt(stack, admin, temporal):
    # ~9 MB of full-text entries: seconds of feedparser, longer than the 2 s heartbeat timeout on this
    # machine, so a parse on the activity's loop would lose the attempt to a heartbeat timeout.
    feed_url = f"{stack.feeds_url}/feeds/bigfeed.rss?items=1000&body_chars=8000"
    source = await admin.ok(
        "POST", "/api/v1/news/sources", 201, json={"name": "Big feed", "feed_url": feed_url, "topic": "local"}
    )
    job_id = await discover(admin, [source])
    snap = await admin.wait_job(job_id, within=180)
    assert (snap["status"], snap["succeeded"], snap["failed"]) == ("completed", 1, 0), snap["errors"]
    assert snap["result"]["drafts_created"] == len([i for i in range(1000) if i % 4 != 3])  # every news entry

    history = await temporal.get_workflow_handle(job_id).fetch_history()
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert [s.attempt for s in started] == [1], [s.last_failure.message for s in started]
