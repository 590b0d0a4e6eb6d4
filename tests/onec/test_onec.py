"""1C sync on the real stack: the emulator's book into our books, counts that equal the rows, re-runs, changes,
kill -9 and a 1C outage mid-sync, classification by rules then the LLM, the shapes the 1C front end reads, roles,
schedules."""

import os
from datetime import date

import pytest
from sqlalchemy import text

from clients.onec import OneCClient
from db.onec_books import CUT_MARKER
from devstack.clients import Api, eventually
from domain.onec_rows import DocumentKind
from settings import Settings
from tests.support.deployment import deployment
from tests.support.histories import record
from tests.support.onec import BOOK, PERIOD, count, sync

QUEUE = "onec"


@pytest.fixture(scope="module")
async def books(stack, admin):
    """This module's deployment: its own API and worker; the 1C book is set per test."""
    async with deployment(stack, admin, "onec", QUEUE) as api:
        yield api


@pytest.fixture
async def fresh(database, onec):
    """An empty set of books and the module's 1C book."""
    async with database.begin() as conn:
        await conn.execute(text("truncate bank_transaction, contractor, onec_sync_page, classification_rule"))
    await onec.book(**BOOK)
    return onec


async def in_1c(stack) -> dict[str, dict[str, str]]:
    """Every bank document and contractor the emulator holds, by Ref_Key: DataVersion (read as a client)."""
    settings = Settings(onec_url=stack.onec_url, _env_file=None)
    found: dict[str, dict[str, str]] = {"documents": {}, "contractors": {}}
    async with OneCClient(settings) as client:
        for kind in DocumentKind:
            async for d in client.documents(kind, date(2024, 1, 1), date(2024, 12, 31), size=1000):
                found["documents"][str(d.ref_key)] = d.data_version
        async for c in client.contractors(size=1000):
            found["contractors"][str(c.ref_key)] = c.data_version
    return found


async def in_books(database) -> dict[str, dict[str, str]]:
    async with database.connect() as conn:
        documents = (await conn.execute(text("select ref_key::text, data_version from bank_transaction"))).all()
        contractors = (await conn.execute(text("select ref_key::text, data_version from contractor"))).all()
    return {"documents": dict(documents), "contractors": dict(contractors)}


async def test_the_book_arrives_whole_and_counts_equal_rows(books, stack, fresh, database, temporal):
    contractors = await sync(books, "contractors")
    bank = await sync(books, "bank-transactions", **PERIOD)
    assert (contractors["status"], bank["status"]) == ("completed", "completed")
    source, local = await in_1c(stack), await in_books(database)
    assert local["documents"] == source["documents"] and len(local["documents"]) == 5000
    assert set(source["contractors"]) <= set(local["contractors"])  # plus those fetched for documents
    result = bank["result"]
    assert (result["loaded"], result["created"], result["updated"], result["skipped"]) == (5000, 5000, 0, 0)
    assert result["deleted"] == await count(database, "select count(*) from bank_transaction where deleted")
    assert contractors["result"]["created"] == len(source["contractors"])
    orphans = "select count(*) from bank_transaction t where contractor_key is not null and not exists"
    orphans += " (select 1 from contractor c where c.ref_key = t.contractor_key)"
    assert result["documents_without_contractor"] == await count(database, orphans) > 0  # 1C lacks them too
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, bank["job_id"], "SyncBankTransactions-created")
        await record(temporal, contractors["job_id"], "SyncContractors-created")

    again = await sync(books, "bank-transactions", **PERIOD)
    assert (again["result"]["created"], again["result"]["updated"], again["result"]["skipped"]) == (0, 0, 5000)

    assert len(await fresh.change(200)) == 200
    after = await sync(books, "bank-transactions", **PERIOD)
    assert (after["result"]["created"], after["result"]["updated"], after["result"]["skipped"]) == (0, 200, 4800)
    assert (await in_books(database))["documents"] == (await in_1c(stack))["documents"]  # the new versions


async def test_kill_and_1c_outage_mid_sync_count_once(books, stack, fresh, database):
    await fresh.book(**{**BOOK, "page_latency_ms": 300})
    task_id = (await books.ok("POST", "/api/v1/sync-1c/bank-transactions/sync-async", 202, json=PERIOD))["task_id"]

    async def under_way():
        return (await books.job(task_id))["processed"] >= 1000

    await eventually(under_way, "a fifth of the documents synced", within=60)
    victim = next(p for p in stack.procs if p.name == "worker-onec")
    victim.kill9()
    stack.procs.remove(victim)
    await fresh.fault(path="/odata", kind="status", status=503, times=3)  # 1C down for a while
    stack.start_worker("worker-onec", task_queue=QUEUE)
    job = await books.wait_job(task_id, within=180)
    assert job["status"] == "completed"
    result = job["result"]
    rows = await count(database, "select count(*) from bank_transaction")
    assert rows == 5000 and result["created"] == 5000 and result["loaded"] == 5000, result
    assert (await in_books(database))["documents"] == (await in_1c(stack))["documents"]


async def test_rules_first_then_the_llm_for_the_rest(books, stack, fresh, database, llm, temporal):
    await fresh.book(**{**BOOK, "documents": 300})
    await books.ok("POST", "/api/v1/sync-1c/rules", 201, json={"category": "Зарплата", "purpose_contains": "зарплат"})
    await books.ok("POST", "/api/v1/sync-1c/rules", 201, json={"category": "Выручка", "direction": "incoming",
                                                                "priority": 200})  # fmt: skip
    await llm.fault(path="/v1/chat/completions", kind="status", status=429, retry_after=1, times=1)
    job = await sync(books, "bank-transactions", auto_classify=True, **PERIOD)
    assert job["status"] == "completed"
    by_rule, by_llm = job["result"]["classified_by_rule"], job["result"]["classified_by_llm"]
    live = "select count(*) from bank_transaction where not deleted"
    assert by_rule > 0 and by_llm > 0 and by_rule + by_llm == await count(database, live)
    # Every incoming document is the rule's; the LLM was asked only for what no rule took, 50 at a time.
    assert await count(database, live + " and direction = 'incoming' and category_source <> 'rule'") == 0
    asked = await llm.requests("/v1/chat/completions")
    assert asked == -(-by_llm // 50) + 1  # the batches, and the one the 429 turned away
    categories = await count(
        database, "select count(distinct category) from bank_transaction where category_source = 'llm'"
    )
    assert categories >= 1
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job["job_id"], "SyncBankTransactions-classified")


async def test_front_end_shapes_roles_and_bad_input(books, stack, fresh, make_user):
    user = Api(books.url, (await make_user("user")).token)
    assert (await user.http.post("/api/v1/sync-1c/contractors/sync-async")).status_code == 403
    assert (await user.http.post("/api/v1/tasks/cleanup")).status_code == 403
    assert (await user.http.get("/api/v1/sync-1c/bank-transactions")).status_code == 200
    backwards = await books.http.post(
        "/api/v1/sync-1c/bank-transactions/sync-async", json={"date_from": "2024-02-01", "date_to": "2024-01-01"}
    )
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["body", "date_to"]
    too_long = await books.http.post(
        "/api/v1/sync-1c/bank-transactions/sync-async", json={"date_from": "2020-01-01", "date_to": "2024-12-31"}
    )
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "date_to"]

    manager = Api(books.url, (await make_user("manager")).token)
    started = await manager.ok("POST", "/api/v1/sync-1c/contractors/sync-async", 202)
    assert set(started) == {"task_id", "joined", "running_input", "running_since"} and started["joined"] is False
    task = await manager.ok("GET", f"/api/v1/tasks/{started['task_id']}")
    assert task["task_type"] == "sync_contractors"
    assert (await user.http.get(f"/api/v1/tasks/{started['task_id']}")).status_code == 404  # not theirs
    done = await manager.wait_job(started["task_id"])
    listed = await manager.ok("GET", "/api/v1/tasks", params={"task_type": "sync_contractors"})
    assert started["task_id"] in {t["task_id"] for t in listed["tasks"]}
    assert done["result"]["created"] > 0
    found = await manager.ok("GET", "/api/v1/sync-1c/contractors", params={"q": "ООО"})
    assert found["total"] > 0 and all("ООО" in (c["name"] + c["full_name"]) for c in found["items"])
    await user.close()
    await manager.close()


async def test_schedules_exist_and_run(books, stack, fresh, temporal):
    schedules = await books.ok("GET", "/api/v1/sync-1c/schedules")
    assert {s["name"] for s in schedules} == {"bank-transactions", "contractors"}
    assert all(not s["paused"] and s["next_runs"] for s in schedules)
    paused = await books.ok("POST", "/api/v1/sync-1c/schedules/contractors/pause")
    assert paused["paused"] and "paused by admin" in paused["note"]
    await books.ok("POST", "/api/v1/sync-1c/schedules/contractors/unpause")

    # Run the contractors schedule now: it starts the sync under its kind's one job id.
    contractors_sync = temporal.get_workflow_handle("onec-sync-contractors")
    earlier = await runs_of(temporal, "onec-sync-contractors")
    handle = temporal.get_schedule_handle(next(s["schedule_id"] for s in schedules if s["name"] == "contractors"))
    await handle.trigger()

    async def synced():
        # Alone, this test meets no earlier sync: until the schedule's starts, there is nothing to describe.
        runs = await runs_of(temporal, "onec-sync-contractors") - earlier
        return runs and (await contractors_sync.describe()).status.name == "COMPLETED"

    await eventually(synced, "a new, scheduled contractors sync", within=60)

    async def triggered():
        return [w async for w in temporal.list_workflows("WorkflowType = 'ScheduledOneCSync'")]

    triggers = await eventually(triggered, "the schedule's trigger workflow in visibility", within=30)
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, triggers[0].id, "ScheduledOneCSync-started")


async def runs_of(temporal, workflow_id: str) -> set[str]:
    return {w.run_id async for w in temporal.list_workflows(f"WorkflowId = '{workflow_id}'")}


async def test_a_row_too_wide_fails_alone_and_the_rest_is_stored(books, stack, fresh, database):
    await fresh.book(**{**BOOK, "documents": 400, "contractors": 60})
    source = await in_1c(stack)
    wide, contractor = sorted(source["documents"])[17], sorted(source["contractors"])[3]
    await fresh.control("POST", "/_emulator/book/change", ref_keys=[wide], fields={"Number": "Н" * 51})
    await fresh.control(
        "POST", "/_emulator/book/change", entity="contractors", ref_keys=[contractor], fields={"Description": "Я" * 700}
    )

    contractors = await sync(books, "contractors")
    bank = await sync(books, "bank-transactions", **PERIOD)
    assert (contractors["status"], bank["status"]) == ("completed", "completed"), bank
    assert (bank["failed"], bank["result"]["failed"], bank["result"]["loaded"]) == (1, 1, 400)
    assert bank["result"]["created"] == 399 and bank["processed"] == 400
    [error] = bank["errors"]
    assert wide in error["item"] and "Number has 51 characters, the books hold 50" in error["error"]
    local = await in_books(database)
    assert set(local["documents"]) == set(source["documents"]) - {wide}  # the rest of its page is stored
    # A name is read, never compared: cut to its column, with a marker.
    name = await count(database, f"select name from contractor where ref_key = '{contractor}'")
    assert len(name) == 500 and name.endswith(CUT_MARKER) and contractors["failed"] == 0
