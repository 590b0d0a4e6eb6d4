"""What the 1C screen reads and edits, on the real stack: progress over the whole sync (classification included), the
synced transactions and contractors filtered and paged, the rules in an order people set, a person's category that
no sync replaces, and each kind's last sync."""

import re

import pytest
from sqlalchemy import text

from devstack.clients import Api, eventually
from tests.onec.test_onec import BOOK, PERIOD
from tests.support.deployment import deployment

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
    assert done["total"] == done["processed"] == done["result"]["loaded"] + to_classify
    assert done["result"]["classified_by_llm"] == to_classify  # no rules: the LLM had them all
