"""The events bus's pieces on their own: the envelope and its size limit, the progress throttle, and the hub's
ordering, visibility and overflow rules (no stack needed)."""

from __future__ import annotations

import asyncio
import json

import pytest

from api.auth import Principal
from api.event_hub import OVERFLOW, Event, EventHub
from db.events import MAX_PAYLOAD_BYTES, EventName, EventTooLarge, encode
from db.models import Role
from runtime.event_throttle import EventThrottle

ALICE = Principal(1, "alice", Role.user)
ADMIN = Principal(2, "root", Role.admin)


def test_event_names_are_the_seeds() -> None:
    assert {name.value for name in EventName} == {
        "ingestion.started", "ingestion.progress", "ingestion.completed", "ingestion.failed",
        "analysis.run_started", "analysis.batch_completed", "analysis.run_completed", "analysis.run_failed",
        "experiment_started", "experiment_progress", "experiment_completed", "experiment_failed",
        "knowledge.extraction_started", "knowledge.extraction_completed", "knowledge.extraction_failed",
        "message_scored", "batch_scored", "message.updated",
    }  # fmt: skip


def test_envelope_and_its_limits() -> None:
    payload = json.loads(encode("message_scored", {"message_id": 7, "score": 0.8}, owner=None))
    assert payload["type"] == "message_scored" and payload["data"] == {"message_id": 7, "score": 0.8}
    assert (payload["job_id"], payload["seq"], payload["owner"]) == (None, None, None)
    with pytest.raises(ValueError):
        encode("message.deleted", {}, owner=None)  # not an EventName: the bus sends only names its clients know
    with pytest.raises(ValueError, match="job_id"):
        encode(EventName.batch_scored, {}, owner=None, seq=1)
    # Cyrillic counts two bytes a character: the limit is Postgres's, in bytes.
    fits = encode(EventName.message_updated, {"text": "щ" * 3900}, owner="u", job_id="j", seq=1)
    assert len(fits.encode()) <= MAX_PAYLOAD_BYTES
    with pytest.raises(EventTooLarge, match="message.updated of job j is 8"):
        encode(EventName.message_updated, {"text": "щ" * 4000}, owner="u", job_id="j", seq=1)


def test_throttle_sends_one_event_per_ten_items_and_the_last() -> None:
    one_by_one = EventThrottle(every=10)
    assert [n for n in range(1, 96) if one_by_one.due(n, 95)] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    batches = EventThrottle(every=10)
    assert [n for n in (25, 50, 75, 95) if batches.due(n, 95)] == [25, 50, 75, 95]
    small = EventThrottle(every=10)
    assert [n for n in (3, 6, 9, 12) if small.due(n)] == [12]
    resumed = EventThrottle(every=10, last=40)  # from a retried activity's checkpoint
    assert [resumed.due(n, 60) for n in (40, 45, 50, 60, 60)] == [False, False, True, True, False]
    with pytest.raises(ValueError):
        EventThrottle(every=0)


def _event(seq: int | None, *, job: str | None = "job-1", owner: str | None = "alice") -> Event:
    return Event.of({"type": "ingestion.progress", "job_id": job, "seq": seq, "owner": owner, "data": {}})


def _drain(queue: asyncio.Queue[Event]) -> list[Event]:
    found = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


async def test_hub_orders_a_jobs_events_and_stops_waiting_after_the_window() -> None:
    hub = EventHub(reorder_window=0.05)
    watcher = hub.subscribe(ADMIN)
    for seq in (2, 3, 1, 1, 6):
        hub.dispatch(_event(seq))
    assert [e.seq for e in _drain(watcher.queue)] == [1, 2, 3]
    # Past the window, 6 goes out without 4 and 5; a late 4 is then dropped.
    assert (await asyncio.wait_for(watcher.queue.get(), 5)).seq == 6
    hub.dispatch(_event(4))
    hub.dispatch(_event(7))
    assert [e.seq for e in _drain(watcher.queue)] == [7]
    hub.dispatch(_event(None, job=None))  # no job: no order to keep
    assert [e.seq for e in _drain(watcher.queue)] == [None]
    hub.close()


async def test_hub_shows_users_their_own_and_the_shared_events() -> None:
    hub = EventHub()
    alice, admin, one_job = hub.subscribe(ALICE), hub.subscribe(ADMIN), hub.subscribe(ADMIN, job_id="job-2")
    hub.dispatch(_event(1, owner="bob"))
    hub.dispatch(_event(1, job="job-2", owner="alice"))
    hub.dispatch(_event(None, job=None, owner=None))
    assert [(e.job_id, e.owner) for e in _drain(alice.queue)] == [("job-2", "alice"), (None, None)]
    assert len(_drain(admin.queue)) == 3
    assert [e.job_id for e in _drain(one_job.queue)] == ["job-2"]
    hub.unsubscribe(alice)
    hub.dispatch(_event(2, job="job-2", owner="alice"))
    assert alice.queue.empty() and hub.subscribers == 2


async def test_a_subscriber_that_falls_behind_gets_an_overflow_not_a_gap() -> None:
    hub = EventHub(queue_limit=3)
    slow = hub.subscribe(ADMIN)
    for seq in range(1, 6):
        hub.dispatch(_event(seq))
    assert _drain(slow.queue) == [OVERFLOW]
    hub.dispatch(_event(6))
    assert slow.queue.empty()


def test_payloads_that_are_no_events_are_refused() -> None:
    for payload in (
        "not json",
        "[]",
        '{"type": 5}',
        '{"type": "x", "seq": "1", "job_id": "j"}',
        '{"type": "x", "owner": 1}',
    ):
        with pytest.raises(ValueError):
            Event.parse(payload)
    assert Event.parse('{"type": "x", "seq": 4}').seq is None  # a number without a job orders nothing
