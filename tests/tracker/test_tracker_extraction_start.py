"""A chat's knowledge extraction started by hand on the real stack (`POST /api/v1/extraction`): it takes the chat's
messages however few and however old, or those of a period; asked again while it runs, the running job answers."""

import random
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.support.tracker import ensure_extractor, seed_messages, unique_word, window


@pytest.fixture
async def extractor(database):
    await ensure_extractor(database)


async def extracted(database, ids: list[int]) -> dict[int, bool]:
    async with database.connect() as conn:
        rows = await conn.execute(
            text("SELECT id, extracted_at IS NOT NULL AND topic_id IS NOT NULL FROM message WHERE id = ANY(:ids)"),
            {"ids": ids},
        )
    return {message_id: done for message_id, done in rows}


async def test_a_chats_few_old_messages_are_extracted_when_a_manager_asks(admin, make_user, database, extractor):
    chat, word = -random.randrange(10**9, 10**12), unique_word()
    start, _ = window()  # years ago, and three messages: the webhook chain's trigger would never take them
    ids = await seed_messages(
        database, chat, start, [f"{word} invoice export fails for old contracts {n}" for n in range(3)]
    )
    manager = await make_user("manager")
    started = await manager.ok("POST", "/api/v1/extraction", 202, json={"telegram_chat_id": chat})
    assert (started["job_id"], started["joined"]) == (f"tracker-extract-chat-{chat}", False)
    snapshot = await manager.wait_job(started["job_id"])
    assert snapshot["status"] == "completed"
    assert await extracted(database, ids) == dict.fromkeys(ids, True)


async def test_only_the_period_asked_for_is_extracted(admin, database, extractor):
    chat, word = -random.randrange(10**9, 10**12), unique_word()
    start, _ = window()
    before = await seed_messages(
        database, chat, start - timedelta(days=2), [f"{word} early planning {n}" for n in range(2)]
    )
    inside = await seed_messages(database, chat, start, [f"{word} deploy checklist {n}" for n in range(2)])
    after = await seed_messages(database, chat, start + timedelta(days=2), [f"{word} late retro {n}" for n in range(2)])
    period = {"since": start.isoformat(), "until": (start + timedelta(days=1)).isoformat()}
    started = await admin.ok("POST", "/api/v1/extraction", 202, json={"telegram_chat_id": chat, **period})
    assert (await admin.wait_job(started["job_id"]))["status"] == "completed"
    done = await extracted(database, before + inside + after)
    assert [i for i, yes in done.items() if yes] == sorted(inside)


async def test_asked_again_while_it_runs_the_running_extraction_answers(admin, database, extractor, llm):
    chat, word = -random.randrange(10**9, 10**12), unique_word()
    start, _ = window()
    await seed_messages(database, chat, start, [f"{word} backup takes forty minutes {n}" for n in range(3)])
    # The LLM thinks for a while: the first extraction is still running when it is asked again.
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=5_000, times=1)
    first = await admin.ok("POST", "/api/v1/extraction", 202, json={"telegram_chat_id": chat})
    again = await admin.ok(
        "POST", "/api/v1/extraction", 202, json={"telegram_chat_id": chat, "since": start.isoformat()}
    )
    assert again["job_id"] == first["job_id"] and again["joined"] is True
    assert again["running_input"]["chat_id"] == chat and again["running_input"]["since"] is None
    assert (await admin.wait_job(first["job_id"]))["status"] == "completed"


async def test_who_may_start_it_and_what_is_refused(admin, make_user, database, extractor):
    chat = -random.randrange(10**9, 10**12)
    start, _ = window()
    await seed_messages(database, chat, start, ["a message so the chat is known"])
    viewer = await make_user("user")
    await viewer.ok("POST", "/api/v1/extraction", 403, json={"telegram_chat_id": chat})
    unknown = await admin.ok("POST", "/api/v1/extraction", 422, json={"telegram_chat_id": chat - 1})
    assert unknown["detail"][0]["loc"] == ["body", "telegram_chat_id"]
    backwards = {
        "telegram_chat_id": chat,
        "since": start.isoformat(),
        "until": (start - timedelta(hours=1)).isoformat(),
    }
    refused = await admin.ok("POST", "/api/v1/extraction", 422, json=backwards)
    assert refused["detail"][0]["loc"] == ["body", "until"]
    too_big = await admin.ok("POST", "/api/v1/extraction", 422, json={"telegram_chat_id": 2**63})
    assert too_big["detail"][0]["loc"] == ["body", "telegram_chat_id"]
