"""The webhook chain under fire: 500 deliveries (450 updates, 50 of them twice) while the worker is killed with
`kill -9` mid-chain and Temporal is stopped and started again. Nothing lost: every message saved and scored, and
extracted at most once. Nothing twice: each message announced saved once and scored once, straight from Postgres's
NOTIFY (the API would hide a repeated number; only here would a repeat show)."""

import asyncio
import random
import time
from collections import Counter

import httpx
from sqlalchemy import text

from devstack.clients import eventually
from tests.support.deployment import Isolated, isolated
from tests.support.tracker import RawEvents

QUEUE = "tracker-crash"
SECRET = "crash-secret"
CHATS = [-7001, -7002, -7003]
WORDS = ["billing deploy failed", "invoice export slow", "login page broken", "roadmap planning sprint"]


def update(n: int) -> dict:
    return {
        "update_id": 9_000_000 + n,
        "message": {
            "message_id": 100 + n,
            "from": {"id": 300 + n % 9, "is_bot": False, "first_name": f"User {n % 9}"},
            "chat": {"id": CHATS[n % 3], "type": "supergroup"},
            "date": int(time.time()),
            "text": f"{random.Random(n).choice(WORDS)}: report {n} needs a decision from the team today",
        },
    }


async def test_a_burst_survives_a_killed_worker_and_temporal_going_away(stack):
    async with isolated(stack, "tracker_crash") as own:
        await burst_under_fire(stack, own)


async def burst_under_fire(stack, own: Isolated) -> None:
    env = {**own.env, "LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET, "LONGRUN_TRACKER_RECONCILE_SECONDS": "2"}
    database = own.database
    raw = await RawEvents().listen(database)
    updates = [update(n) for n in range(450)]
    deliveries = updates + random.Random(9).sample(updates, 50)
    random.Random(10).shuffle(deliveries)
    workers = []
    try:
        async with database.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO agent_config (name, role, model, system_prompt, active, created_at, updated_at) "
                    "SELECT 'crash-extractor', 'knowledge_extractor', '', 'Extract topics and atoms.', true, now(), "
                    "now() WHERE NOT EXISTS (SELECT 1 FROM agent_config WHERE role = 'knowledge_extractor' "
                    "AND active)"
                )
            )
        url = stack.start_api("api-tracker-crash", task_queue=QUEUE, **env)
        workers.append(stack.start_worker("worker-tracker-crash-1", task_queue=QUEUE, **env))
        gate = asyncio.Semaphore(16)

        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def deliver(body: dict) -> None:
                async with gate:
                    response = await http.post(
                        "/webhook/telegram", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                    )
                    assert response.status_code == 200, response.text

            async def saved() -> int:
                async with database.connect() as conn:
                    return await conn.scalar(text("SELECT count(*) FROM message"))

            await asyncio.gather(*(deliver(b) for b in deliveries[:200]))
            # Mid-chain: the drainer has taken some of the burst and not all of it.
            await eventually(lambda: _between(saved, 1, 449), "the drainer to be under way", within=60, interval=0.05)
            workers[-1].kill9()
            await asyncio.gather(*(deliver(b) for b in deliveries[200:300]))
            workers.append(stack.start_worker("worker-tracker-crash-2", task_queue=QUEUE, **env))
            own.stop_temporal()
            await asyncio.gather(*(deliver(b) for b in deliveries[300:400]))
            own.start_temporal()
            if not workers[-1].alive:  # a worker that gave up during the outage is replaced, as `make worker` would
                workers.append(stack.start_worker("worker-tracker-crash-3", task_queue=QUEUE, **env))
            await asyncio.gather(*(deliver(b) for b in deliveries[400:]))

        async def all_scored():
            async with database.connect() as conn:
                return await conn.scalar(text("SELECT count(importance_score) FROM message")) == len(updates)

        await eventually(all_scored, "every message saved and scored", within=180, interval=0.5)

        async def extracted_down_to_the_threshold():
            async with database.connect() as conn:
                waiting = dict(
                    (
                        await conn.execute(
                            text(
                                "SELECT telegram_chat_id, count(*) FILTER (WHERE extracted_at IS NULL) FROM message "
                                "GROUP BY 1"
                            )
                        )
                    ).all()
                )
            return all(left < 10 for left in waiting.values())

        await eventually(extracted_down_to_the_threshold, "the chats' extractions", within=180, interval=0.5)
        async with database.connect() as conn:
            distinct = await conn.scalar(
                text("SELECT count(DISTINCT (telegram_chat_id, telegram_message_id)) FROM message")
            )
            unsaved = await conn.scalar(text("SELECT count(*) FROM telegram_update WHERE saved_at IS NULL"))
            crossed = await conn.scalar(
                text(
                    "SELECT count(*) FROM atom_message am JOIN atom a ON a.id = am.atom_id JOIN message m "
                    "ON m.id = am.message_id WHERE a.extraction_claim IS DISTINCT FROM m.extraction_claim"
                )
            )
            ids = set(await conn.scalars(text("SELECT id FROM message")))
        assert distinct == len(ids) == len(updates)
        assert unsaved == 0
        assert crossed == 0
        await eventually(
            lambda: _announced(raw, "message_scored", ids), "every score announced", within=30, interval=0.2
        )
        for kind in ("message_scored", "message.updated"):
            counts = Counter(p["data"]["message_id"] for p in raw.payloads if p["type"] == kind)
            assert set(counts) == ids, kind
            assert max(counts.values()) == 1, (kind, counts.most_common(3))
    finally:
        await raw.close()
        stack.stop_named("api-tracker-crash", *(w.name for w in workers))


async def _between(count, low: int, high: int) -> bool:
    return low <= await count() <= high


async def _announced(raw: RawEvents, kind: str, ids: set[int]) -> bool:
    return {p["data"]["message_id"] for p in raw.payloads if p["type"] == kind} >= ids
