"""Analysis runs are bounded: a run pages its window's ids and continues as new every few batches (its row still ends
with the right counts), and a caller cannot ask for a window or a number of batches past the settings' bounds."""

import random
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest

from tests.deployment import deployment
from tests.test_events import open_stream
from tests.test_tracker_analysis import job_events, run_messages, seed_messages, unique_word, window

QUEUE = "analysis-bounds"
BOUNDS = {
    "LONGRUN_ANALYSIS_BATCHES_PER_RUN": "2",
    "LONGRUN_ANALYSIS_MAX_WINDOW_DAYS": "30",
    "LONGRUN_ANALYSIS_MAX_BATCHES": "10",
}


@pytest.fixture(scope="module")
async def bounded(stack, admin):
    async with deployment(stack, admin, "analysis-bounds", QUEUE, **BOUNDS) as api:
        yield api


async def test_a_run_longer_than_one_history_continues_as_new_and_counts_right(bounded, database, temporal):
    start, end = window()
    await seed_messages(database, -random.randrange(10**9), start, run_messages(unique_word()) * 4)  # 12 kept
    body = {"time_window_start": start.isoformat(), "time_window_end": end.isoformat(), "batch_size": 2}
    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, bounded.url, bounded.token)
        started = await bounded.ok("POST", "/api/v1/runs", 202, json=body)
        events = await job_events(ws, started["job_id"])
    job = await bounded.wait_job(started["job_id"], within=120)
    assert job["status"] == "completed", job
    assert (job["total"], job["succeeded"], job["failed"]) == (6, 6, 0)

    run = await bounded.ok("GET", f"/api/v1/runs/{started['id']}")
    assert run["status"] == "completed" and run["error_log"] is None
    assert (run["messages_total"], run["messages_after_filter"], run["batches_total"]) == (20, 12, 6)
    assert run["batches_completed"] == 6 and run["proposals_total"] == len(run["proposals"]) > 0
    assert sorted({p["batch_index"] for p in run["proposals"]}) == list(range(6))
    # Numbered on across the runs: one history never held them all.
    assert [(e["type"], e["seq"]) for e in events] == [
        ("analysis.run_started", 1),
        *[("analysis.batch_completed", n) for n in range(2, 8)],
        ("analysis.run_completed", 8),
    ]
    runs = [w async for w in temporal.list_workflows(f"WorkflowId = '{started['job_id']}'")]
    # 6 batches, 2 per run, and a last run that finds the window's end (the 6th batch filled its page).
    assert len(runs) == 4, [r.run_id for r in runs]


async def test_a_window_or_batch_count_past_the_bounds_is_422(bounded, database):
    start, end = window()
    await seed_messages(database, -random.randrange(10**9), start, run_messages(unique_word()) * 4)  # 20 messages
    wide = {"time_window_start": start.isoformat(), "time_window_end": (start + timedelta(days=31)).isoformat()}
    answer = await bounded.http.post("/api/v1/runs", json=wide)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "time_window_end"], answer.text
    many = {"time_window_start": start.isoformat(), "time_window_end": end.isoformat(), "batch_size": 1}
    answer = await bounded.http.post("/api/v1/runs", json=many)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "batch_size"], answer.text
    assert "at least 2" in answer.json()["detail"][0]["msg"]
