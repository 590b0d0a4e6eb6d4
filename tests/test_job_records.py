"""Closed jobs outlive the namespace's retention: a stack in a namespace of its own that keeps closed runs for seconds
runs jobs to every end (completed, failed, cancelled, terminated; started by the API, by a Temporal Schedule and by an
activity), waits until Temporal no longer has them, and reads every one back through the API as it was."""

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from temporalio.client import Client
from websockets.asyncio.client import connect as ws_connect

from api.job_records import ENDED_UNRECORDED
from devstack.clients import Api, Emulator, OneCEmulator, eventually
from devstack.stack import ADMIN_PASSWORD, Stack, start_stack
from runtime.temporal import connect
from settings import Settings
from tests.support.histories import record
from tests.support.news import discover, make_sources
from tests.support.onec import PERIOD
from tests.support.retention import gone_from_temporal
from tests.support.users import users_of
from workflows.onec import CONTRACTORS_JOB_ID
from workflows.schedules import ONEC_CONTRACTORS, TRACKER_SCORING, schedule_id
from workflows.tracker_inbox import SCORING_JOB

NAMESPACE = "longrun-short"
# Long enough to read each job once as it closes, short enough to wait out in a test.
RETENTION = "6s"
QUEUE = "longrun-test"
COUNTED = ("total", "processed", "succeeded", "skipped", "failed")
SHOWN = ("job_id", "type", "owner", "kind", "status", *COUNTED)

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def short_stack() -> Stack:
    data_dir = Path(tempfile.mkdtemp(prefix="longrun-retention-"))
    data_dir.chmod(0o755)
    stack = start_stack(data_dir, namespace=NAMESPACE, retention=RETENTION)
    try:
        stack.start_worker(task_queue=QUEUE)
        stack.api_url = stack.start_api(task_queue=QUEUE)
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def short_temporal(short_stack: Stack) -> Client:
    return await connect(Settings(temporal_address=short_stack.temporal_address, temporal_namespace=NAMESPACE))


@pytest.fixture(scope="module")
async def boss(short_stack: Stack) -> Api:
    api = await Api.login(short_stack.api_url, "admin", ADMIN_PASSWORD)
    yield api
    await api.close()


async def started(api: Api, job_type: str) -> str | None:
    jobs = (await api.ok("GET", "/api/v1/jobs", params={"type": job_type}))["jobs"]
    return jobs[0]["job_id"] if jobs else None


async def test_closed_jobs_are_answered_from_their_records_once_temporal_no_longer_has_them(
    short_stack: Stack, short_temporal: Client, boss: Api
):
    llm, onec = Emulator(short_stack.openai_url), OneCEmulator(short_stack.onec_url)
    await onec.reset()
    await onec.book(seed=3, documents=40, contractors=30, folders=2, pending_contractors=0)
    closed: dict[str, dict] = {}  # each job as the API answered it the moment it closed, while Temporal had it

    # Completed, started by the API.
    completed = await discover(boss, await make_sources(boss, short_stack, 2, items=4))
    closed[completed] = await boss.wait_job(completed)
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(short_temporal, completed, "NewsDiscovery-job-record")

    # Started by a Temporal Schedule (no code of ours runs at its start), and by an activity (the 1C schedule's).
    settings = Settings(task_queue=QUEUE, _env_file=None)
    await short_temporal.get_schedule_handle(schedule_id(TRACKER_SCORING, settings)).trigger()
    scoring = await eventually(lambda: started(boss, SCORING_JOB), "the scheduled scoring job")
    closed[scoring] = await boss.wait_job(scoring)
    await short_temporal.get_schedule_handle(schedule_id(ONEC_CONTRACTORS, settings)).trigger()

    async def contractors_started() -> bool:
        return (await boss.http.get(f"/api/v1/jobs/{CONTRACTORS_JOB_ID}")).status_code == 200

    await eventually(contractors_started, "the contractors sync the 1C schedule starts", within=60)
    closed[CONTRACTORS_JOB_ID] = await boss.wait_job(CONTRACTORS_JOB_ID, within=120)

    # Failed: 1C refuses.
    await onec.fault(path="/odata", kind="status", status=400)
    bank = (await boss.ok("POST", "/api/v1/sync-1c/bank-transactions/sync-async", 202, json=PERIOD))["task_id"]
    closed[bank] = await boss.wait_job(bank, within=120)
    await onec.reset()

    # Cancelled through the API; and one terminated in Temporal, which runs no code of ours at its end.
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=20_000)
    cancelled = await discover(boss, await make_sources(boss, short_stack, 1, items=4))
    # Terminated, and never read or listed (a user's job; the listings below ask for the admin's).
    async with users_of(boss) as make:
        terminated = await discover(await make("user"), await make_sources(boss, short_stack, 1, items=4))
    # Terminated too, and read while Temporal has it: the API writes the end the job could not.
    seen_terminated = await discover(boss, await make_sources(boss, short_stack, 1, items=4))
    # And one only listed while Temporal has it: the listing writes its end.
    listed_terminated = await discover(boss, await make_sources(boss, short_stack, 1, items=4))
    await eventually(lambda: llm.requests("/v1/chat/completions"), "a discovery's LLM call")
    await boss.ok("POST", f"/api/v1/jobs/{cancelled}/cancel", 202)
    await short_temporal.get_workflow_handle(terminated).terminate(reason="an operator's terminate")
    await short_temporal.get_workflow_handle(seen_terminated).terminate(reason="an operator's terminate")
    await short_temporal.get_workflow_handle(listed_terminated).terminate(reason="an operator's terminate")

    async def listed_as_failed() -> bool:
        jobs = (await boss.ok("GET", "/api/v1/jobs", params={"limit": 100, "owner": "admin"}))["jobs"]
        return any(j["job_id"] == listed_terminated and j["status"] == "failed" for j in jobs)

    await eventually(listed_as_failed, "the terminated job listed as failed")
    closed[seen_terminated] = await boss.wait_job(seen_terminated)
    closed[cancelled] = await boss.wait_job(cancelled)
    await llm.reset()

    assert [closed[j]["status"] for j in (completed, scoring, CONTRACTORS_JOB_ID, bank, cancelled)] == [
        "completed",
        "completed",
        "completed",
        "failed",
        "cancelled",
    ]
    assert closed[completed]["processed"] == 2 and closed[CONTRACTORS_JOB_ID]["result"]["created"] == 30
    assert closed[seen_terminated]["status"] == "failed" and "terminate" in closed[seen_terminated]["message"]
    assert closed[scoring]["owner"] == closed[CONTRACTORS_JOB_ID]["owner"] == "schedule"

    # The list gives each closed job's counts (from its record) whether Temporal still has it or not. Not the user's
    # jobs: their terminated one stays unread and unlisted while Temporal has it.
    listed = {}
    for owner in ("admin", "schedule"):
        params = {"limit": 100, "owner": owner}
        listed |= {j["job_id"]: j for j in (await boss.ok("GET", "/api/v1/jobs", params=params))["jobs"]}
    assert {j: [listed[j][k] for k in COUNTED] for j in closed} == {j: [closed[j][k] for k in COUNTED] for j in closed}

    everyone = [*closed, terminated, listed_terminated]

    async def retention_passed() -> bool:
        return all(await asyncio.gather(*(gone_from_temporal(short_temporal, j) for j in everyone)))

    await eventually(retention_passed, "Temporal to drop the closed jobs", within=120, interval=0.5)

    # One job: as it was.
    for job_id, before in closed.items():
        after = await boss.job(job_id)
        assert {k: after[k] for k in SHOWN} == {k: before[k] for k in SHOWN}, job_id
        assert (after["result"], after["message"]) == (before["result"], before["message"]), job_id
    ended = await boss.job(terminated)
    assert (ended["status"], ended["message"], ended["result"]["error"]) == (
        "failed",
        ENDED_UNRECORDED,
        ENDED_UNRECORDED,
    )

    ended = await boss.job(listed_terminated)
    assert (ended["status"], ended["message"]) == ("failed", "an operator's terminate")

    # The list, its filters, and owners.
    listed = {j["job_id"]: j for j in (await boss.ok("GET", "/api/v1/jobs", params={"limit": 100}))["jobs"]}
    assert {j: listed[j]["status"] for j in closed} == {j: closed[j]["status"] for j in closed}
    assert {j: [listed[j][k] for k in COUNTED] for j in closed} == {j: [closed[j][k] for k in COUNTED] for j in closed}
    only_cancelled = (await boss.ok("GET", "/api/v1/jobs", params={"status": "cancelled"}))["jobs"]
    assert [j["job_id"] for j in only_cancelled] == [cancelled]
    started_at = [j["started_at"] for j in listed.values()]
    assert started_at == sorted(started_at, reverse=True)

    # The 1C front end's task list and task.
    tasks = {t["task_id"]: t for t in (await boss.ok("GET", "/api/v1/tasks", params={"limit": 100}))["tasks"]}
    for job_id, before in closed.items():
        assert (tasks[job_id]["status"], tasks[job_id]["processed"]) == (before["status"], before["processed"])
        assert tasks[job_id]["result"] == before["result"]
    assert (await boss.ok("GET", f"/api/v1/tasks/{bank}"))["error"] == closed[bank]["message"]

    # The 1C screen's last sync of each kind.
    kinds = {k["kind"]: k["last"] for k in await boss.ok("GET", "/api/v1/sync-1c/last-syncs")}
    assert (kinds["contractors"]["status"], kinds["contractors"]["counts"]["created"]) == ("completed", 30)
    assert (kinds["bank-transactions"]["status"], kinds["bank-transactions"]["error"]) == (
        "failed",
        closed[bank]["message"],
    )

    # The job socket's first snapshot.
    url = short_stack.api_url.replace("http://", "ws://") + f"/api/v1/ws/jobs/{completed}?token={boss.token}"
    async with ws_connect(url) as ws, asyncio.timeout(30):
        first = json.loads(await ws.recv())
    assert {k: first[k] for k in SHOWN} == {k: closed[completed][k] for k in SHOWN}

    # Cancel says it has finished; a rerun starts from the recorded input.
    assert (await boss.http.post(f"/api/v1/jobs/{completed}/cancel")).status_code == 409
    rerun = await boss.ok("POST", f"/api/v1/jobs/{completed}/rerun", 202)
    again = await boss.wait_job(rerun["job_id"])
    assert (rerun["rerun_of"], again["status"], again["processed"]) == (completed, "completed", 2)


async def test_a_user_sees_only_their_own_closed_jobs_past_retention(short_stack: Stack, short_temporal: Client, boss):
    async with users_of(boss) as make:
        user = await make("user")
        other = await make("user")
        job_id = await discover(user, await make_sources(boss, short_stack, 1, items=4))
        await user.wait_job(job_id)
        await eventually(lambda: gone_from_temporal(short_temporal, job_id), "retention", within=120, interval=0.5)
        assert (await user.job(job_id))["status"] == "completed"
        assert job_id in {j["job_id"] for j in (await user.ok("GET", "/api/v1/jobs"))["jobs"]}
        assert (await other.http.get(f"/api/v1/jobs/{job_id}")).status_code == 404
        assert job_id not in {j["job_id"] for j in (await other.ok("GET", "/api/v1/jobs"))["jobs"]}
        assert job_id not in {t["task_id"] for t in (await other.ok("GET", "/api/v1/tasks"))["tasks"]}
        assert (await other.http.post(f"/api/v1/jobs/{job_id}/rerun")).status_code == 404
