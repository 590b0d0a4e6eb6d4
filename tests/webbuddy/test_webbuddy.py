"""WebBuddy queries: a workflow per query, the old claim_next workers beside it, failures and cancel."""

import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from devstack.clients import Api, eventually
from tests.support.deployment import deployment
from tests.support.histories import record
from tests.support.webbuddy import FAST_RECONCILE, logs_by_stage, new_query, queued_without_workflow, wait_query

QUEUE = "webbuddy"
STAGE_LOGS = {"claimed": 1, "answering": 1, "done": 1}


@pytest.fixture(scope="module")
async def wb(stack, admin):
    """This module's deployment: its own API and worker, with fast reconcile sweeps."""
    async with deployment(stack, admin, "webbuddy", QUEUE, **FAST_RECONCILE) as api:
        yield api


@pytest.fixture
async def owner(wb, make_user):
    """A user with a project, talking to the WebBuddy deployment."""
    user = await make_user("user")
    api = Api(wb.url, user.token)
    api.username = user.username
    api.project = (await api.ok("POST", "/api/projects/", 201, json={"name": f"site of {user.username}"}))["id"]
    yield api
    await api.close()


async def test_query_is_answered_by_its_workflow(wb, owner, llm, database, temporal):
    created = await new_query(owner, owner.project, "Проверить форму входа")
    assert created["status"] == "queued" and created["project"] == owner.project
    done = await wait_query(owner, created["id"])
    assert done["status"] == "done" and "Проверить" in done["answer_text"]
    assert done["query_started"] and done["query_finished"]
    assert await logs_by_stage(database, created["id"]) == STAGE_LOGS
    assert await llm.requests("/v1/chat/completions") == 1

    job = await owner.job(f"webbuddy-query-{created['id']}")
    assert (job["status"], job["type"], job["owner"]) == ("completed", "webbuddy_query", owner.username)
    assert job["details"]["logs_written"] == 3 and job["percent"] == 100.0
    assert job["result"]["outcome"] == "done"

    logs = await owner.ok("GET", "/api/logs/", params={"query": created["id"]})
    assert [entry["log_data"] for entry in logs][-1] == "answered"
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job["job_id"], "ProcessQuery-done")


async def test_push_endpoint_finds_the_existing_workflow(wb, owner, llm, temporal):
    # The answer is held, so the push lands while the query's workflow runs.
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=3000, times=1)
    created = await new_query(owner, owner.project)
    await wait_query(owner, created["id"], statuses=("in_progress",))
    handle = temporal.get_workflow_handle(f"webbuddy-query-{created['id']}")
    running = await handle.describe()
    pushed = await owner.ok("POST", "/api/process-query", json={"query_id": created["id"], "webbuddy_url": "x"})
    assert pushed == {"status": "accepted"}
    assert (await handle.describe()).run_id == running.run_id
    assert (await wait_query(owner, created["id"]))["status"] == "done"
    runs = [w async for w in temporal.list_workflows(f"WorkflowId = 'webbuddy-query-{created['id']}'")]
    assert [w.run_id for w in runs] == [running.run_id]
    assert await llm.requests("/v1/chat/completions") == 1


async def test_push_starts_a_queued_querys_workflow_and_refuses_a_closed_one(wb, owner, llm, database, temporal):
    query_id = await queued_without_workflow(database, owner)
    pushed = await owner.ok("POST", "/api/process-query", json={"query_id": query_id})
    assert pushed == {"status": "accepted"}
    # Started by the push itself: reconcile leaves a query alone for its first second.
    await temporal.get_workflow_handle(f"webbuddy-query-{query_id}").describe()
    assert (await wait_query(owner, query_id))["status"] == "done"
    again = await owner.http.post("/api/process-query", json={"query_id": query_id})
    assert (again.status_code, again.json()["detail"]) == (409, f"query {query_id} is already done")
    assert await llm.requests("/v1/chat/completions") == 1


async def test_a_terminated_run_gets_its_query_closed_by_reconcile(wb, owner, llm, temporal):
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=20_000, times=1)
    created = await new_query(owner, owner.project)
    await wait_query(owner, created["id"], statuses=("in_progress",))
    await temporal.get_workflow_handle(f"webbuddy-query-{created['id']}").terminate("an admin pulled the plug")
    closed = await wait_query(owner, created["id"], within=30)
    assert (closed["status"], closed["error"]) == ("failed", "its job ended (terminated) without closing the query")
    assert closed["query_finished"] is not None


async def test_llm_400_fails_once_without_retry_storm(wb, owner, llm, database):
    await llm.fault(path="/v1/chat/completions", kind="status", status=400)
    created = await new_query(owner, owner.project)
    failed = await wait_query(owner, created["id"])
    assert failed["status"] == "failed" and "400" in failed["error"]
    assert await llm.requests("/v1/chat/completions") == 1
    assert (await logs_by_stage(database, created["id"]))["failed"] == 1
    job = await owner.job(f"webbuddy-query-{created['id']}")
    assert job["status"] == "failed" and job["result"]["outcome"] == "failed"


async def test_llm_429_is_honoured_then_done(wb, owner, llm):
    await llm.fault(path="/v1/chat/completions", kind="status", status=429, retry_after=1, times=1)
    created = await new_query(owner, owner.project)
    assert (await wait_query(owner, created["id"]))["status"] == "done"
    assert await llm.requests("/v1/chat/completions") == 2


async def test_an_llm_away_for_more_attempts_than_a_budget_had_still_answers(wb, owner, llm):
    """7 transient faults in a row (5 attempts used to fail the query); then the LLM answers again."""
    await llm.fault(path="/v1/chat/completions", kind="drop", times=2)
    await llm.fault(path="/v1/chat/completions", kind="status", status=503, retry_after=0.05, times=5)
    created = await new_query(owner, owner.project)
    done = await wait_query(owner, created["id"], within=120)
    assert done["status"] == "done" and done["answer_text"], done
    assert await llm.requests("/v1/chat/completions") == 8


async def test_a_refusal_after_transient_faults_names_them(wb, owner, llm):
    await llm.fault(path="/v1/chat/completions", kind="status", status=503, retry_after=0.05, times=2)
    await llm.fault(path="/v1/chat/completions", kind="status", status=400)
    created = await new_query(owner, owner.project)
    failed = await wait_query(owner, created["id"], within=120)
    assert failed["status"] == "failed" and "400" in failed["error"]
    assert "(after: 2 × HTTP 503)" in failed["error"]
    assert await llm.requests("/v1/chat/completions") == 3
    job = await owner.job(f"webbuddy-query-{created['id']}")
    assert "(after: 2 × HTTP 503)" in job["errors"][0]["error"]


async def test_cancel_marks_the_query_failed(wb, owner, llm, database, temporal):
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=10_000)
    created = await new_query(owner, owner.project)
    await wait_query(owner, created["id"], statuses=("in_progress",))
    await owner.ok("POST", f"/api/v1/jobs/webbuddy-query-{created['id']}/cancel", 202)
    failed = await wait_query(owner, created["id"])
    assert (failed["status"], failed["error"]) == ("failed", "cancelled by user")
    assert (await owner.job(f"webbuddy-query-{created['id']}"))["status"] == "cancelled"
    assert failed["answer_text"] is None
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, f"webbuddy-query-{created['id']}", "ProcessQuery-cancelled")


async def test_abandoned_external_claim_is_requeued_and_answered(wb, owner, make_user, database, temporal):
    # A query with no workflow, claimed at once (before any sweep's grace period lets a workflow
    # take it) by a worker that then dies.
    query_id = await queued_without_workflow(database, owner)
    worker = Api(wb.url, (await make_user("worker")).token)
    claimed = await worker.ok("POST", "/api/queries/claim_next/")
    assert (claimed["id"], claimed["status"]) == (query_id, "in_progress")

    done = await wait_query(owner, query_id, within=60)
    assert done["status"] == "done" and done["answer_text"]
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        runs = [
            w
            async for w in temporal.list_workflows(
                "WorkflowType = 'ReconcileQueries' AND ExecutionStatus = 'Completed'"
            )
        ]
        await record(temporal, runs[0].id, "ReconcileQueries-sweep")
    async with database.connect() as conn:
        holder = await conn.scalar(text("select claimed_by from query where id = :q"), {"q": query_id})
    assert holder.startswith("workflow:")
    await worker.close()


async def test_a_workflows_own_claim_is_never_requeued(wb, owner, llm, database, temporal):
    # Slower than the stale-claim limit (3 s) across several sweeps (every 2 s).
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=7000, times=1)
    created = await new_query(owner, owner.project)
    await wait_query(owner, created["id"], statuses=("in_progress",))
    stale_since = (datetime.now(UTC) + timedelta(seconds=3.5)).isoformat()

    async def swept_after_stale():
        query = f"WorkflowType = 'ReconcileQueries' AND ExecutionStatus = 'Completed' AND StartTime > '{stale_since}'"
        return [w async for w in temporal.list_workflows(query)]

    await eventually(swept_after_stale, "a reconcile sweep after the claim went stale", within=30)
    async with database.connect() as conn:
        row = (
            await conn.execute(text("select status, claimed_by from query where id = :q"), {"q": created["id"]})
        ).one()
    assert row.status == "in_progress" and row.claimed_by.startswith("workflow:")
    assert (await wait_query(owner, created["id"]))["status"] == "done"
    assert await llm.requests("/v1/chat/completions") == 1


async def test_claim_next_and_query_rules(wb, owner, make_user):
    user = Api(wb.url, (await make_user("user")).token)
    assert (await user.http.post("/api/queries/claim_next/")).status_code == 403
    worker = Api(wb.url, (await make_user("worker")).token)
    empty = await worker.http.post("/api/queries/claim_next/")
    assert (empty.status_code, empty.json()) == (404, {"detail": "No queued queries available"})

    created = await new_query(owner, owner.project)
    bad = await owner.http.patch(f"/api/queries/{created['id']}/", json={"status": "exploded"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "status"]
    assert (await user.http.get(f"/api/queries/{created['id']}/")).status_code == 404
    assert (await user.http.patch(f"/api/queries/{created['id']}/", json={"status": "done"})).status_code == 404
    assert (
        await user.http.post("/api/queries/", json={"project": owner.project, "query_text": "x"})
    ).status_code == 422
    unknown = await owner.http.post("/api/queries/", json={"project": 10**9, "query_text": "x"})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "project"]
    assert [q["id"] for q in await user.ok("GET", "/api/queries/")] == []
    mine = await owner.ok("GET", "/api/queries/", params={"project": owner.project})
    assert created["id"] in {q["id"] for q in mine}
    await user.close()
    await worker.close()


async def test_queries_are_listed_oldest_first_unless_the_newest_are_asked_for(wb, owner):
    """WebBuddy's own clients get the order they always had; the dashboard asks `ordering=-id` to page newest first."""
    ids = [(await new_query(owner, owner.project, f"question {n}"))["id"] for n in range(3)]
    oldest = await owner.ok("GET", "/api/queries/", params={"project": owner.project})
    assert [q["id"] for q in oldest] == ids
    newest = await owner.ok("GET", "/api/queries/", params={"project": owner.project, "ordering": "-id", "limit": 2})
    assert [q["id"] for q in newest] == ids[::-1][:2]
    older = await owner.ok(
        "GET", "/api/queries/", params={"project": owner.project, "ordering": "-id", "limit": 2, "offset": 2}
    )
    assert [q["id"] for q in older] == ids[:1]
    wrong = await owner.http.get("/api/queries/", params={"ordering": "query_text"})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["query", "ordering"]
