"""The scoring sweep as a job (`POST /api/v1/scoring/unscored`, and its schedule): every message without a score
gets one, once, announced to live clients; the sweep is for editors, and a second sweep finds nothing to do."""

import asyncio
import os
import random
from contextlib import AsyncExitStack

from sqlalchemy import text

from tests.support.events import open_stream, receive
from tests.support.histories import record


async def scored_times(conn, chat: int) -> dict:
    query = text("SELECT id, scored_at FROM message WHERE telegram_chat_id = :chat")
    return dict((await conn.execute(query, {"chat": chat})).all())


async def test_the_sweep_scores_every_unscored_message_once_and_announces_it(database, admin, make_user, temporal):
    chat = -random.randrange(10**12)
    async with database.begin() as conn:
        ids = list(
            await conn.scalars(
                text(
                    "INSERT INTO message (telegram_chat_id, telegram_message_id, text, sent_at, source, created_at) "
                    "SELECT :chat, n, 'the nightly export of invoices failed again on host ' || n, now(), "
                    "'ingestion', now() FROM generate_series(1, 1200) AS n RETURNING id"
                ),
                {"chat": chat},
            )
        )
    user = await make_user("user")
    await user.ok("POST", "/api/v1/scoring/unscored", expect=403, json={})
    await admin.ok("POST", "/api/v1/scoring/unscored", expect=422, json={"batch": 0})

    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, str(admin.http.base_url), admin.token)
        started = await admin.ok("POST", "/api/v1/scoring/unscored", expect=202, json={"batch": 500})
        job = await admin.wait_job(started["job_id"], within=120)
        assert job["status"] == "completed", job
        # Other tests' messages may be scored by the same sweep: ours are all among them.
        assert job["succeeded"] >= len(ids) and job["result"]["scored"] == job["succeeded"]

        scored_events: list[int] = []
        batches = 0
        async with asyncio.timeout(60):
            while len(scored_events) < len(ids):
                event = await receive(ws)
                if event["type"] == "message_scored" and event["data"]["chat_id"] == chat:
                    scored_events.append(event["data"]["message_id"])
                elif event["type"] == "batch_scored" and chat in event["data"]["chats"]:
                    batches += 1
        assert sorted(scored_events) == sorted(ids)
        assert batches >= 1

    async with database.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT count(*), count(importance_score), count(noise_factors), "
                    "count(*) FILTER (WHERE noise_class IN ('noise', 'weak_signal', 'signal')) "
                    "FROM message WHERE telegram_chat_id = :chat"
                ),
                {"chat": chat},
            )
        ).one()
        scored_at = dict(
            (
                await conn.execute(
                    text("SELECT id, scored_at FROM message WHERE telegram_chat_id = :chat"), {"chat": chat}
                )
            ).all()
        )
    assert tuple(row) == (len(ids),) * 4

    again = await admin.ok("POST", "/api/v1/scoring/unscored", expect=202, json={})
    assert (await admin.wait_job(again["job_id"], within=60))["status"] == "completed"
    async with database.connect() as conn:
        rescored = dict(
            (
                await conn.execute(
                    text("SELECT id, scored_at FROM message WHERE telegram_chat_id = :chat"), {"chat": chat}
                )
            ).all()
        )
    assert rescored == scored_at  # nothing scored twice
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, started["job_id"], "ScoreUnscoredMessages-three-batches")
