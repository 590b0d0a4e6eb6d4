"""Analysis runs are bounded: a run pages its window's ids and continues as new every few batches (its row still ends
with the right counts), each step reads at most a few of the window's messages, and a caller cannot ask for a window
or a number of batches past the settings' bounds."""

import os
import random
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.tracker_analysis import AnalysisActivities, BatchCursor, NextBatchInput, StartRunInput
from db.models.tracker import AnalysisRun
from tests.support.deployment import deployment
from tests.support.events import open_stream
from tests.support.histories import HISTORIES
from tests.support.tracker import job_events, run_messages, seed_messages, unique_word, window

QUEUE = "analysis-bounds"
BOUNDS = {
    "LONGRUN_ANALYSIS_BATCHES_PER_RUN": "2",
    "LONGRUN_ANALYSIS_MAX_WINDOW_DAYS": "30",
    "LONGRUN_ANALYSIS_MAX_BATCHES": "13",
    # Fewer than a run of dropped messages: some steps end short of a batch, or with no id at all.
    "LONGRUN_ANALYSIS_ROWS_PER_STEP": "3",
}
# The prefilter drops these (no ask, nothing to do): a stretch of them longer than a step reads.
CHATTER = ["ok", "thanks", "see you", "lol", "sure"]


@pytest.fixture(scope="module")
async def bounded(stack, admin):
    async with deployment(stack, admin, "analysis-bounds", QUEUE, **BOUNDS) as api:
        yield api


async def test_a_run_longer_than_one_history_continues_as_new_and_counts_right(bounded, database, temporal):
    start, end = window()
    # 12 kept of 25: the chatter in the middle fills more than a step's rows with nothing the prefilter keeps.
    texts = run_messages(unique_word()) * 2 + CHATTER + run_messages(unique_word()) * 2
    await seed_messages(database, -random.randrange(10**9), start, texts)
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
    assert (run["messages_total"], run["messages_after_filter"], run["batches_total"]) == (25, 12, 6)
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
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        # The paged path's first run (start, steps, continue-as-new) and its last (carried in, finished).
        ordered = sorted(runs, key=lambda r: r.start_time)
        for name, listed in (("paged-first", ordered[0]), ("paged-last", ordered[-1])):
            history = await temporal.get_workflow_handle(listed.id, run_id=listed.run_id).fetch_history()
            (HISTORIES / f"AnalysisRun-{name}.json").write_text(history.to_json())


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


async def _window_run(database, texts: list[str], batch_size: int) -> tuple[int, list[int]]:
    start, end = window()
    ids = await seed_messages(database, -random.randrange(10**9), start, texts)
    async with async_sessionmaker(database, expire_on_commit=False)() as session:
        run = AnalysisRun(time_window_start=start, time_window_end=end, batch_size=batch_size)
        session.add(run)
        await session.commit()
        return run.id, ids


async def test_start_run_counts_the_window_and_leaves_the_prefilter_to_the_steps(database):
    """The first step reads no message: the window's size is the database's count, the prefilter's count and the
    batches are left to `next_batch` (a wide window's every text read in one step outlasted the step's timeout)."""
    run_id, _ = await _window_run(database, CHATTER * 4 + run_messages(unique_word()), batch_size=2)  # 3 kept of 25
    sessions = async_sessionmaker(database, expire_on_commit=False)
    activities = AnalysisActivities(sessions, llm=None, rows_per_step=3)
    job = {"job_id": f"bounds-{uuid.uuid4().hex[:8]}", "owner": "admin"}
    plan = await ActivityEnvironment().run(activities.start_run, StartRunInput(**job, run_id=run_id, paged=True))
    assert (plan.messages_total, plan.batches, plan.messages_after_filter, plan.batches_total) == (25, [], None, None)


async def test_next_batch_reads_at_most_its_rows_and_says_the_window_goes_on(database):
    """A step reads at most `rows_per_step` messages: through a stretch the prefilter drops it answers fewer ids than
    a batch (or none) with `done` false and a cursor past what it read, and the steps together cut the batches
    `start_run` once cut."""
    texts = run_messages(unique_word())[:1] + CHATTER + run_messages(unique_word())  # kept: 0, 6, 8, 10 of 11
    run_id, ids = await _window_run(database, texts, batch_size=2)
    activities = AnalysisActivities(async_sessionmaker(database, expire_on_commit=False), llm=None, rows_per_step=3)
    steps, cursor = [], BatchCursor()
    while True:
        page = await ActivityEnvironment().run(
            activities.next_batch, NextBatchInput(run_id=run_id, after=cursor, size=2)
        )
        steps.append(([ids.index(i) for i in page.message_ids], ids.index(page.after.message_id), page.done))
        cursor = page.after
        if page.done:
            break
    assert steps == [
        ([0], 2, False),  # three read, one kept: short of a batch, and the window goes on
        ([], 5, False),  # three of chatter: nothing kept, and still not the end
        ([6, 8], 8, False),  # a batch: the cursor stops at its last id
        ([10], 10, True),  # the last two: the window's end
    ], steps
