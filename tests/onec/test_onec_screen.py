"""What the 1C screen reads and edits, on the real stack: progress over the whole sync (classification included), the
synced transactions and contractors filtered and paged, the rules in an order people set, a person's category that
no sync replaces, and each kind's last sync."""

import re

import pytest
from sqlalchemy import text

from devstack.clients import Api, eventually
from tests.support.deployment import deployment
from tests.support.onec import BOOK, PERIOD, count, sync

QUEUE = "onec-screen"
BANK = "/api/v1/sync-1c/bank-transactions"
RULES = "/api/v1/sync-1c/rules"
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
async def screen(stack, admin):
    async with deployment(stack, admin, "onec-screen", QUEUE) as api:
        yield api


@pytest.fixture
async def fresh(database, onec):
    async with database.begin() as conn:
        await conn.execute(text("truncate bank_transaction, contractor, onec_sync_page, classification_rule"))
    await onec.book(**{**BOOK, "documents": 600, "contractors": 120})
    return onec


async def sample_until_closed(api: Api, task_id: str, within: float = 120) -> list[dict]:
    """Every answer of the tasks API for `task_id` until it closes (polled as the 1C front end polls)."""
    seen: list[dict] = []

    async def closed():
        task = await api.ok("GET", f"/api/v1/tasks/{task_id}")
        seen.append(task)
        return task["status"] in TERMINAL

    await eventually(closed, f"task {task_id} to close", within=within, interval=0.05)
    return seen


async def test_progress_covers_the_classification_and_never_shows_100_while_running(screen, fresh, llm):
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=250)  # the LLM is the slow part
    started = await screen.ok("POST", f"{BANK}/sync-async", 202, json={**PERIOD, "auto_classify": True})
    seen = await sample_until_closed(screen, started["task_id"])

    done = seen[-1]
    assert done["status"] == "completed" and done["progress"] == 100.0
    running = [t for t in seen if t["status"] == "running"]
    assert running and all(t["progress"] < 100 for t in running), [t["progress"] for t in running]
    progress = [t["progress"] for t in seen]
    assert progress == sorted(progress), "progress went back"
    classifying = [t for t in running if re.fullmatch(r"classifying: \d+/\d+", t["message"])]
    assert len({t["progress"] for t in classifying}) >= 2, "progress moves while the LLM classifies"
    to_classify = int(classifying[-1]["message"].split("/")[1])
    # The phase in fields too, for a client to say in its reader's language.
    phases = {t["phase"] for t in running}
    assert phases <= {"loading", "classifying", None}, phases
    for task in classifying:
        assert task["phase"] == "classifying"
        assert f"classifying: {task['phase_processed']}/{task['phase_total']}" == task["message"]
    assert done["total"] == done["processed"] == done["result"]["loaded"] + to_classify
    assert done["result"]["classified_by_llm"] == to_classify  # no rules: the LLM had them all


async def test_transactions_filtered_by_period_contractor_category_direction_and_paged(
    screen, fresh, database, make_user
):
    await sync(screen, "contractors")
    await sync(screen, "bank-transactions", **PERIOD)
    live = "select count(*) from bank_transaction where not deleted"
    everything = await screen.ok("GET", BANK, params={"limit": 1000})
    assert everything["total"] == await count(database, live) == len(everything["items"])

    first, second = [await screen.ok("GET", BANK, params={"limit": 7, "offset": o}) for o in (0, 7)]
    assert first["total"] == second["total"] == everything["total"]
    assert [t["ref_key"] for t in first["items"] + second["items"]] == [t["ref_key"] for t in everything["items"][:14]]

    named = next(t for t in everything["items"] if t["contractor_name"])
    by_contractor = await screen.ok("GET", BANK, params={"contractor": named["contractor_key"], "limit": 1000})
    assert by_contractor["total"] == await count(database, f"{live} and contractor_key = '{named['contractor_key']}'")
    assert {(t["contractor_name"], t["contractor_inn"]) for t in by_contractor["items"]} == {
        (named["contractor_name"], named["contractor_inn"])
    }
    day = named["date"][:10]
    on_day = await screen.ok("GET", BANK, params={"date_from": day, "date_to": day, "limit": 1000})
    assert on_day["total"] == await count(database, f"{live} and date::date = '{day}'") > 0
    assert all(t["date"].startswith(day) for t in on_day["items"])
    incoming = await screen.ok("GET", BANK, params={"direction": "incoming", "limit": 1000})
    assert incoming["total"] == await count(database, f"{live} and direction = 'incoming'") > 0
    assert {t["direction"] for t in incoming["items"]} == {"incoming"}

    manager = Api(screen.url, (await make_user("manager")).token)
    chosen = await manager.ok("PATCH", f"{BANK}/{named['ref_key']}", json={"category": "Аренда"})
    assert (chosen["category"], chosen["category_source"], chosen["contractor_name"]) == (
        "Аренда", "manual", named["contractor_name"]
    )  # fmt: skip
    rent = await screen.ok("GET", BANK, params={"category": "Аренда"})
    assert [t["ref_key"] for t in rent["items"]] == [named["ref_key"]] and rent["total"] == 1
    unclassified = await screen.ok("GET", BANK, params={"category": "unclassified", "limit": 1})
    assert unclassified["total"] == everything["total"] - 1 and unclassified["items"][0]["category"] is None

    user = Api(screen.url, (await make_user("user")).token)
    assert (await user.http.get(BANK, params={"category": "unclassified"})).status_code == 200
    assert (await user.http.patch(f"{BANK}/{named['ref_key']}", json={"category": "x"})).status_code == 403
    unknown = await manager.http.patch(f"{BANK}/00000000-0000-0000-0000-00000000abcd", json={"category": "x"})
    assert unknown.status_code == 404 and "00000000-0000-0000-0000-00000000abcd" in unknown.json()["detail"]
    too_long = await manager.http.patch(f"{BANK}/{named['ref_key']}", json={"category": "я" * 101})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "category"]
    sideways = await user.http.get(BANK, params={"direction": "sideways"})
    assert sideways.status_code == 422 and sideways.json()["detail"][0]["loc"] == ["query", "direction"]
    categories = (await user.ok("GET", "/api/v1/sync-1c/categories"))["categories"]
    assert "Аренда" in categories and "Прочее" in categories
    await manager.close()
    await user.close()


async def test_a_persons_category_outlives_classification_and_resync(screen, fresh, database):
    await screen.ok("POST", RULES, 201, json={"category": "Выручка", "direction": "incoming"})
    await sync(screen, "bank-transactions", **PERIOD)
    incoming = await screen.ok("GET", BANK, params={"direction": "incoming", "limit": 2})
    kept, other = (t["ref_key"] for t in incoming["items"])
    await screen.ok("PATCH", f"{BANK}/{kept}", json={"category": "Прочее"})

    await fresh.control("POST", "/_emulator/book/change", ref_keys=[kept, other])  # 1C rewrites both
    job = await sync(screen, "bank-transactions", auto_classify=True, **PERIOD)
    assert job["status"] == "completed" and job["result"]["updated"] == 2, job["result"]
    categories = "select category || '/' || category_source from bank_transaction where ref_key = '{}'"
    assert await count(database, categories.format(kept)) == "Прочее/manual"
    assert await count(database, categories.format(other)) == "Выручка/rule"

    cleared = await screen.ok("PATCH", f"{BANK}/{kept}", json={"category": None})
    assert (cleared["category"], cleared["category_source"]) == (None, None)
    await sync(screen, "bank-transactions", auto_classify=True, **PERIOD)
    assert await count(database, categories.format(kept)) == "Выручка/rule"  # given back to classification


async def test_rules_are_edited_put_in_order_and_applied_in_it(screen, fresh, database, make_user):
    revenue = await screen.ok("POST", RULES, 201, json={"category": "Выручка", "direction": "incoming"})
    rent = await screen.ok("POST", RULES, 201, json={"category": "Аренда", "purpose_contains": "nothing matches"})
    edited = await screen.ok("PATCH", f"{RULES}/{rent['id']}", json={"purpose_contains": None, "direction": "incoming"})
    assert (edited["purpose_contains"], edited["direction"], edited["category"]) == (None, "incoming", "Аренда")
    no_condition = await screen.http.patch(f"{RULES}/{rent['id']}", json={"direction": None})
    assert no_condition.status_code == 422 and no_condition.json()["detail"][0]["loc"] == ["body", "purpose_contains"]
    bad_inn = await screen.http.patch(f"{RULES}/{rent['id']}", json={"inn": "12ab"})
    assert bad_inn.status_code == 422 and bad_inn.json()["detail"][0]["loc"] == ["body", "inn"]

    spare = await screen.ok("POST", RULES, 201, json={"category": "Прочее", "operation": "never"})
    ordered = await screen.ok("PUT", f"{RULES}/order", json={"rule_ids": [spare["id"], rent["id"], revenue["id"]]})
    assert [(r["id"], r["priority"]) for r in ordered] == [(spare["id"], 10), (rent["id"], 20), (revenue["id"], 30)]
    assert [r["id"] for r in await screen.ok("GET", RULES)] == [spare["id"], rent["id"], revenue["id"]]
    for wrong, said in (
        ([rent["id"], revenue["id"]], f"missing: [{spare['id']}]"),
        ([spare["id"], rent["id"], revenue["id"], rent["id"]], "repeated"),
        ([spare["id"], rent["id"], revenue["id"], 99999], "no such rules: [99999]"),
    ):
        refused = await screen.http.put(f"{RULES}/order", json={"rule_ids": wrong})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "rule_ids"], refused.text
        assert said in refused.json()["detail"][0]["msg"]
    user = Api(screen.url, (await make_user("user")).token)
    assert (await user.http.put(f"{RULES}/order", json={"rule_ids": [rent["id"]]})).status_code == 403
    await user.close()

    await screen.ok("DELETE", f"{RULES}/{spare['id']}", 204)
    job = await sync(screen, "bank-transactions", auto_classify=True, **PERIOD)
    assert job["status"] == "completed"
    incoming = "select count(*) from bank_transaction where not deleted and direction = 'incoming'"
    # Both rules match every incoming document; the one placed first gives the category.
    assert (
        await count(database, incoming + " and category = 'Аренда' and category_source = 'rule'")
        == await count(database, incoming)
        > 0
    )


async def test_contractors_by_name_or_the_start_of_an_inn_paged(screen, fresh, database):
    await sync(screen, "contractors")
    inn = await count(database, "select inn from contractor where inn <> '' and not is_folder order by inn limit 1")
    found = await screen.ok("GET", "/api/v1/sync-1c/contractors", params={"q": inn[:5], "limit": 1000})
    expected = f"select count(*) from contractor where not is_folder and inn like '{inn[:5]}%'"
    assert found["total"] == await count(database, expected) >= 1 and inn in {c["inn"] for c in found["items"]}
    page = await screen.ok("GET", "/api/v1/sync-1c/contractors", params={"q": "ООО", "limit": 3, "offset": 3})
    assert page["total"] > 6 and len(page["items"]) == 3


async def test_each_kinds_last_sync_says_when_what_and_why_it_failed(screen, fresh, make_user):
    contractors = await sync(screen, "contractors")
    bank = await sync(screen, "bank-transactions", auto_classify=True, **PERIOD)
    kinds = {k["kind"]: k for k in await screen.ok("GET", "/api/v1/sync-1c/last-syncs")}
    assert set(kinds) == {"bank-transactions", "contractors"}
    last = kinds["bank-transactions"]["last"]
    assert (kinds["bank-transactions"]["running"], last["status"], last["error"]) == (False, "completed", None)
    assert (last["date_from"], last["date_to"]) == (PERIOD["date_from"], PERIOD["date_to"])
    result = bank["result"]
    assert {k: last["counts"][k] for k in ("loaded", "created", "updated", "skipped")} == {
        k: result[k] for k in ("loaded", "created", "updated", "skipped")
    }
    assert last["counts"]["classified"] == result["classified_by_rule"] + result["classified_by_llm"] > 0
    assert last["started_at"] < last["finished_at"]
    assert kinds["contractors"]["last"]["counts"]["created"] == contractors["result"]["created"]

    await fresh.fault(path="/odata", kind="status", status=400)  # 1C refuses: the sync fails
    failed = await sync(screen, "contractors")
    assert failed["status"] == "failed"
    user = Api(screen.url, (await make_user("user")).token)
    kinds = {k["kind"]: k for k in await user.ok("GET", "/api/v1/sync-1c/last-syncs")}
    last = kinds["contractors"]["last"]
    assert (last["status"], last["counts"]) == ("failed", None) and "400" in last["error"]
    assert kinds["bank-transactions"]["last"]["status"] == "completed"
    await user.close()
