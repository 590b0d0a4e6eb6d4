"""The tasks API over any job, in the task shape the 1C front end's TaskProgress reads: over HTTP and websockets,
its roles."""

import asyncio
import json
from datetime import UTC, datetime

import pytest
from websockets.asyncio.client import connect

from api.job_retries import Retrying
from api.jobs import JobSnapshot
from api.routes.tasks import task_of
from tests.support.news import discover, make_sources
from workflows.base import JobStatus

TASK_FIELDS = {
    "task_id", "task_type", "status", "progress", "total", "processed", "message",
    "created_at", "started_at", "completed_at", "result", "error",
    # added: a step being retried (the 1C front end shows `message`, which says it too)
    "retrying", "attempt", "retrying_since", "last_error",
    # added: which phase a job is in and how far into it (a 1C sync: loading, then classifying), for the reader's words
    "phase", "phase_processed", "phase_total",
}  # fmt: skip


async def test_a_job_is_a_task_in_the_front_ends_shape(stack, admin, make_user, llm):
    user = await make_user("user")
    job_id = await discover(user, await make_sources(admin, stack, 2, items=4))
    await user.wait_job(job_id)
    task = await user.ok("GET", f"/api/v1/tasks/{job_id}")
    assert set(task) == TASK_FIELDS
    assert (task["task_id"], task["task_type"], task["status"]) == (job_id, "news_discovery", "completed")
    assert (task["progress"], task["total"], task["processed"]) == (100.0, 2, 2)
    assert task["completed_at"] and task["result"]["sources_processed"] == 2 and task["error"] is None

    listed = await user.ok("GET", "/api/v1/tasks", params={"task_type": "news_discovery", "limit": 5})
    assert listed["total"] == len(listed["tasks"]) and job_id in {t["task_id"] for t in listed["tasks"]}
    assert all(set(t) == TASK_FIELDS for t in listed["tasks"])

    stranger = await make_user("user")
    assert (await stranger.http.get(f"/api/v1/tasks/{job_id}")).status_code == 404
    assert job_id not in {t["task_id"] for t in (await stranger.ok("GET", "/api/v1/tasks"))["tasks"]}
    assert (await user.http.post(f"/api/v1/tasks/{job_id}/cancel")).status_code == 409
    assert (await user.http.post("/api/v1/tasks/cleanup")).status_code == 403


async def test_task_socket_pushes_the_front_ends_shape_until_the_end(stack, admin, llm):
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=300)
    job_id = await discover(admin, await make_sources(admin, stack, 3), max_parallel=1)
    url = stack.api_url.replace("http://", "ws://") + f"/api/v1/ws/tasks/{job_id}?token={admin.token}"
    async with connect(url) as ws, asyncio.timeout(60):
        tasks = [json.loads(message) async for message in ws]
    assert all(set(t) == TASK_FIELDS for t in tasks)
    assert tasks[-1]["status"] == "completed" and tasks[-1]["progress"] == 100.0
    assert [t["processed"] for t in tasks] == sorted(t["processed"] for t in tasks)


@pytest.mark.parametrize("status", list(JobStatus))
def test_every_job_status_reads_as_one_of_the_five_the_front_end_knows(status):
    snap = JobSnapshot(job_id="j", type="channel_migration", owner="ann", status=status, message="42 of 100 posts")
    task = task_of(snap)
    assert task.status.value in {"pending", "running", "completed", "failed", "cancelled"}
    if status in (JobStatus.paused, JobStatus.cancelling):
        # Still under way, and the message the front end shows says what is going on.
        assert task.status.value == "running" and task.message == f"{status.value}: 42 of 100 posts"
    else:
        assert task.status.value == status.value and task.message == "42 of 100 posts"


@pytest.mark.parametrize("status", [JobStatus.pending, JobStatus.running])
def test_a_retrying_job_is_a_running_task_whose_message_says_so(status):
    since = datetime(2025, 5, 1, 10, 0, 5, tzinfo=UTC)
    retry = Retrying(step="onec.sync_page", attempt=4, since=since, last_error="1C answered 503")
    task = task_of(JobSnapshot(job_id="j", type="sync_bank_transactions", owner="ann", status=status, retrying=retry))
    assert (task.status.value, task.retrying, task.attempt, task.last_error) == ("running", True, 4, "1C answered 503")
    assert task.message == "retrying onec.sync_page (attempt 4 since 2025-05-01T10:00:05+00:00): 1C answered 503"
