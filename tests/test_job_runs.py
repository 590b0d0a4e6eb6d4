"""A job is its run's: who owns it, how far it got and whether it is stuck retrying all come from the run itself.

Two managers starting the same 1C sync, a schedule's sync joined by a person, a step failing against a 1C that
answers 503, and a worker killed mid-discovery, on the real stack."""

from datetime import date

from devstack.clients import Api, eventually
from settings import Settings
from tests.support.news import discover, make_sources
from workflows.onec import SyncBankInput, bank_sync_job
from workflows.start import SCHEDULE_OWNER, start_job

BANK = "/api/v1/sync-1c/bank-transactions/sync-async"
FIRST_HALF = {"date_from": "2024-01-01", "date_to": "2024-06-30"}
SECOND_HALF = {"date_from": "2024-07-01", "date_to": "2024-12-31"}
# Slow pages keep a sync running for the whole test; it is cancelled at the end.
SLOW_BOOK = {"seed": 18, "documents": 3000, "contractors": 50, "page_latency_ms": 1500}


async def cancel_and_wait(api: Api, job_id: str) -> dict:
    await api.ok("POST", f"/api/v1/jobs/{job_id}/cancel", 202)
    return await api.wait_job(job_id, within=120)


async def test_a_second_managers_start_joins_the_first_ones_sync_and_it_stays_theirs(stack, onec, make_user):
    await onec.book(**SLOW_BOOK)
    first, second = await make_user("manager"), await make_user("manager")

    started = await first.ok("POST", BANK, 202, json=FIRST_HALF)
    assert started["joined"] is False
    joined = await second.ok("POST", BANK, 202, json=SECOND_HALF)
    job_id = started["task_id"]

    # The second manager learns that a sync of another period runs, and that it is not theirs.
    assert joined["task_id"] == job_id and joined["joined"] is True
    running = joined["running_input"]
    assert (running["date_from"], running["date_to"]) == (FIRST_HALF["date_from"], FIRST_HALF["date_to"])
    assert joined["running_since"]
    for method, path in [
        ("GET", f"/api/v1/jobs/{job_id}"),
        ("GET", f"/api/v1/tasks/{job_id}"),
        ("POST", f"/api/v1/jobs/{job_id}/cancel"),
        ("POST", f"/api/v1/tasks/{job_id}/cancel"),
    ]:
        assert (await second.http.request(method, path)).status_code == 404, (method, path)

    snap = await first.job(job_id)
    assert snap["owner"] == first.username and snap["status"] in ("pending", "running")
    assert (await cancel_and_wait(first, job_id))["status"] == "cancelled"


async def test_a_schedules_sync_joined_by_a_manager_stays_the_schedules(stack, admin, onec, temporal, make_user):
    await onec.book(**SLOW_BOOK)
    # What the bank schedule's workflow does (ScheduledOneCSync -> start_scheduled), over a long period.
    settings = Settings(temporal_address=stack.temporal_address, task_queue="longrun-test", _env_file=None)
    period = SyncBankInput(date_from=date(2024, 1, 1), date_to=date(2024, 12, 31))
    scheduled = await start_job(temporal, settings, bank_sync_job(period, SCHEDULE_OWNER))
    manager = await make_user("manager")

    joined = await manager.ok("POST", BANK, 202, json=SECOND_HALF)

    assert joined["task_id"] == scheduled.id and joined["joined"] is True
    assert joined["running_input"]["date_from"] == "2024-01-01"
    assert (await manager.http.get(f"/api/v1/tasks/{scheduled.id}")).status_code == 404
    assert (await manager.http.post(f"/api/v1/tasks/{scheduled.id}/cancel")).status_code == 404
    assert (await admin.job(scheduled.id))["owner"] == SCHEDULE_OWNER
    assert (await cancel_and_wait(admin, scheduled.id))["owner"] == SCHEDULE_OWNER


async def test_a_step_failing_against_1c_says_retrying_then_recovers(stack, onec, make_user):
    await onec.book(seed=19, documents=10, contractors=30)
    await onec.fault(path="/odata", kind="status", status=503)  # 1C down until the rule is lifted
    manager = await make_user("manager")
    job_id = (await manager.ok("POST", "/api/v1/sync-1c/contractors/sync-async", 202))["task_id"]

    async def retrying():
        snap = await manager.job(job_id)
        retry = snap.get("retrying")
        return snap if retry and retry["attempt"] >= 2 else None

    snap = await eventually(retrying, "the job to say its step is retrying", within=60)
    retry = snap["retrying"]
    # Still counting what to sync (not begun): its status says pending, `retrying` says why it is not going on.
    assert snap["status"] == "pending" and retry["step"] == "onec.count" and retry["since"]
    assert "503" in retry["last_error"]
    task = await manager.ok("GET", f"/api/v1/tasks/{job_id}")
    # The task shape says a retrying job is running (it has started), its message what is failing.
    assert (task["status"], task["retrying"]) == ("running", True) and task["attempt"] >= 2
    assert "503" in task["last_error"] and task["message"].startswith("retrying onec.count (attempt ")

    await onec.clear_faults()
    done = await manager.wait_job(job_id, within=120)
    assert (done["status"], done["retrying"]) == ("completed", None) and done["result"]["created"] > 0
    task = await manager.ok("GET", f"/api/v1/tasks/{job_id}")
    assert (task["retrying"], task["attempt"], task["last_error"]) == (False, None, None)


async def test_counts_never_go_back_while_a_killed_workers_replacement_comes(stack, admin, llm):
    queue = "floor-news"
    api = Api(stack.start_api("api-floor", task_queue=queue), admin.token)
    first = stack.start_worker("worker-floor-1", task_queue=queue)
    try:
        await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=400)
        job_id = await discover(api, await make_sources(admin, stack, 6), max_parallel=2)
        seen: list[int] = []

        async def progressed(at_least: int):
            async def probe():
                snap = await api.job(job_id)
                seen.append(snap["processed"])
                return snap if snap["processed"] >= at_least else None

            return probe

        await eventually(await progressed(1), "a source processed", within=60)
        first.kill9()
        # No worker at all: the progress query cannot be answered, and the counts shown stay where they were.
        for _ in range(2):
            snap = await api.job(job_id)
            seen.append(snap["processed"])
        assert seen == sorted(seen) and seen[-1] >= 1, seen
        assert "no worker" in snap["message"]
        stack.start_worker("worker-floor-2", task_queue=queue)
        done = await api.wait_job(job_id, within=120)
        seen.append(done["processed"])
        assert done["status"] == "completed" and seen[-1] == 6
        assert seen == sorted(seen), seen
    finally:
        await api.close()
        stack.stop_named("api-floor", "worker-floor-1", "worker-floor-2")
