"""The tracker's webhook chain on the real stack: Telegram's updates in, messages saved and scored once each,
knowledge extracted at most once per message; bad secrets and malformed updates refused before anything starts."""

import asyncio
import json
import logging
import os
import random
from contextlib import AsyncExitStack
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment

from activities.tracker import ScoreInput, TrackerActivities
from activities.tracker_avatars import AvatarActivities, AvatarCache, AvatarsInput
from activities.tracker_inbox import ExtractionTrigger, InboxActivities, TakeInput, TakeOutcome
from clients.telegram_bot import TelegramBotClient
from devstack.clients import eventually
from runtime.queues import QueueKind, queue_name
from settings import Settings
from tests.support.events import open_stream, receive
from tests.support.histories import record
from tests.support.tracker import HEADERS, SECRET, SECRET_HEADER, update
from workflows.base import JobStatus
from workflows.start import start_job
from workflows.tracker_extraction import LLM_RETRY, MORE, ExtractKnowledgeInput, extraction_job, extraction_job_id

TOPICS = ["billing deploy failed", "invoice export slow", "login page broken", "roadmap planning sprint"]


@pytest.fixture(scope="module")
def webhook_url(stack):
    with stack.running_api("api-tracker", LONGRUN_TELEGRAM_WEBHOOK_SECRET=SECRET) as url:
        yield url


@pytest.fixture
async def webhook(webhook_url):
    async with httpx.AsyncClient(base_url=webhook_url, timeout=30) as http:
        yield http


@pytest.fixture
async def extractor(database):
    """An active knowledge_extractor agent config: without one, nothing is extracted."""
    async with database.begin() as conn:
        await conn.execute(text("UPDATE agent_config SET active = false WHERE role = 'knowledge_extractor'"))
        await conn.execute(
            text(
                "INSERT INTO agent_config (name, role, model, system_prompt, active, created_at, updated_at) "
                "VALUES (:name, 'knowledge_extractor', '', :prompt, true, now(), now())"
            ),
            {"name": f"extractor-{random.randrange(10**9)}", "prompt": "Extract topics and atoms."},
        )


async def test_a_wrong_or_missing_secret_is_401(webhook):
    body = update(random.randrange(10**12), -1, 1, 1, "hello")
    wrong = await webhook.post("/webhook/telegram", json=body, headers={SECRET_HEADER: "nope"})
    assert wrong.status_code == 401
    assert (await webhook.post("/webhook/telegram", json=body)).status_code == 401
    # Refused before the body is looked at: a malformed update with a wrong secret is a 401 too.
    assert (await webhook.post("/webhook/telegram", json={"update_id": "x"})).status_code == 401


async def test_a_malformed_update_is_422_naming_the_field_and_keeps_nothing(webhook, database):
    update_id = random.randrange(10**12)
    body = update(update_id, -2, 1, 1, "hello")
    body["message"]["message_id"] = "not a number"
    response = await webhook.post("/webhook/telegram", json=body, headers=HEADERS)
    assert response.status_code == 422
    assert ["body", "message", "message_id"] in [e["loc"] for e in response.json()["detail"]]
    for broken in ([], {"message": {}}, "update", {"update_id": -5}):
        assert (await webhook.post("/webhook/telegram", json=broken, headers=HEADERS)).status_code == 422
    async with database.connect() as conn:
        stored = await conn.scalar(text("SELECT count(*) FROM telegram_update WHERE update_id = :u"), {"u": update_id})
    assert stored == 0


async def test_a_burst_with_repeats_saves_and_scores_each_message_once_and_extracts_each_at_most_once(
    webhook, webhook_url, database, temporal, extractor, admin
):
    base = random.randrange(10**9, 10**12)
    chats = [-(base + 1), -(base + 2), -(base + 3)]
    updates = [
        update(base + n, chats[n % 3], 1000 + n, 500 + n % 7, random.Random(n).choice(TOPICS)) for n in range(450)
    ]
    repeats = random.Random(base).sample(updates, 50)
    deliveries = updates + repeats
    random.Random(base + 1).shuffle(deliveries)
    gate = asyncio.Semaphore(16)

    async def deliver(body: dict) -> int:
        async with gate:
            return (await webhook.post("/webhook/telegram", json=body, headers=HEADERS)).status_code

    extraction_events: list[dict] = []
    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, webhook_url, admin.token)
        assert set(await asyncio.gather(*(deliver(body) for body in deliveries))) == {200}

        async def counts():
            async with database.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT count(*), count(importance_score), count(DISTINCT (telegram_chat_id, "
                            "telegram_message_id)) FROM message WHERE telegram_chat_id = ANY(:chats)"
                        ),
                        {"chats": chats},
                    )
                ).one()
            return row if row[1] == len(updates) else None

        saved, scored, distinct = await eventually(counts, "every message saved and scored", within=120, interval=0.5)
        assert saved == scored == distinct == len(updates)
        async with database.connect() as conn:
            ids = set(
                await conn.scalars(
                    text("SELECT id FROM message WHERE telegram_chat_id = ANY(:chats)"), {"chats": chats}
                )
            )
            inbox = await conn.scalar(
                text("SELECT count(*) FROM telegram_update WHERE update_id = ANY(:ids) AND saved_at IS NOT NULL"),
                {"ids": [u["update_id"] for u in updates]},
            )
        assert inbox == len(updates)

        # Each message announced scored once, and saved once: the drainer's events, read as a client reads them.
        announced: dict[str, list[int]] = {"message_scored": [], "message.updated": []}
        async with asyncio.timeout(60):
            while len(announced["message_scored"]) < len(ids) or len(announced["message.updated"]) < len(ids):
                event = await receive(ws)
                if event["type"] in announced and event["data"]["message_id"] in ids:
                    announced[event["type"]].append(event["data"]["message_id"])
                elif event["type"].startswith("knowledge.extraction_"):
                    extraction_events.append(event)
        assert sorted(announced["message_scored"]) == sorted(ids)
        assert sorted(announced["message.updated"]) == sorted(ids)
        await check_extractions(temporal, database, chats)
        await check_extraction_events(ws, database, chats, extraction_events)
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        drainers = temporal.list_workflows("WorkflowType = 'TrackerInbox' AND ExecutionStatus = 'Running'")
        # TrackerInbox-burst.json is the drainer before its triggers were throttled: kept, and replayed.
        await record(temporal, (await anext(aiter(drainers))).id, "TrackerInbox-throttled")
        await record(temporal, extraction_job_id(chats[0]), "ExtractKnowledge-burst")


async def check_extractions(temporal, database, chats: list[int]) -> None:
    """Extraction covered every message at most once, a chat's batches one after another."""

    async def extractions_done():
        for chat in chats:
            handle = temporal.get_workflow_handle(extraction_job_id(chat))
            try:
                if (await handle.describe()).status.name == "RUNNING":
                    return False
            except RPCError:
                return False
        return True

    await eventually(extractions_done, "the chats' extractions to finish", within=180, interval=0.5)
    # The inbox started them (through start_job, from an activity) on the LLM work's queue, not the webhook chain's.
    llm_queue = queue_name("longrun-test", QueueKind.llm)
    assert {(await temporal.get_workflow_handle(extraction_job_id(c)).describe()).task_queue for c in chats} == {
        llm_queue
    }
    async with database.connect() as conn:
        per_chat = dict(
            (
                await conn.execute(
                    text(
                        "SELECT telegram_chat_id, count(*) FILTER (WHERE extracted_at IS NULL) FROM message "
                        "WHERE telegram_chat_id = ANY(:chats) GROUP BY telegram_chat_id"
                    ),
                    {"chats": chats},
                )
            ).all()
        )
        batches = (
            await conn.execute(
                text(
                    "SELECT telegram_chat_id, extraction_claim, count(*), min(extraction_claimed_at), "
                    "max(extracted_at) FROM message WHERE telegram_chat_id = ANY(:chats) "
                    "AND extracted_at IS NOT NULL GROUP BY telegram_chat_id, extraction_claim"
                ),
                {"chats": chats},
            )
        ).all()
        # An atom links only messages of the batch it came from: no message went through two extractions.
        crossed = await conn.scalar(
            text(
                "SELECT count(*) FROM atom_message am JOIN atom a ON a.id = am.atom_id "
                "JOIN message m ON m.id = am.message_id "
                "WHERE m.telegram_chat_id = ANY(:chats) AND a.extraction_claim IS DISTINCT FROM m.extraction_claim"
            ),
            {"chats": chats},
        )
        with_topic = await conn.scalar(
            text("SELECT count(*) FROM message WHERE telegram_chat_id = ANY(:chats) AND topic_id IS NOT NULL"),
            {"chats": chats},
        )
    # The trigger fires at 10 waiting messages and extraction goes on while 10 wait: fewer than 10 are left.
    assert all(left < 10 for left in per_chat.values()), per_chat
    assert max(n for _, _, n, _, _ in batches) >= 10
    assert crossed == 0
    assert with_topic > 0
    # A chat's batches ran one after another: each was claimed after the one before it was written.
    for chat in chats:
        spans = sorted((claimed, written) for c, _, _, claimed, written in batches if c == chat)
        assert all(later[0] >= earlier[1] for earlier, later in pairwise(spans)), spans


async def check_extraction_events(ws, database, chats: list[int], seen: list[dict]) -> None:
    """Each chat's extraction told its batches in order: started, completed, started, completed..., each chain of
    runs numbering its events 1, 2, 3... without a gap, and one `completed` per batch written."""
    async with database.connect() as conn:
        batches = dict(
            (
                await conn.execute(
                    text(
                        "SELECT telegram_chat_id, count(DISTINCT extraction_claim) FROM message "
                        "WHERE telegram_chat_id = ANY(:chats) AND extracted_at IS NOT NULL GROUP BY 1"
                    ),
                    {"chats": chats},
                )
            ).all()
        )

    def ours(chat: int, kind: str | None = None) -> list[dict]:
        prefix = extraction_job_id(chat) + "/"
        return [e for e in seen if (e["job_id"] or "").startswith(prefix) and kind in (None, e["type"])]

    async with asyncio.timeout(60):
        while any(len(ours(c, "knowledge.extraction_completed")) < batches[c] for c in chats):
            seen.append(await receive(ws))
    for chat in chats:
        assert len(ours(chat, "knowledge.extraction_completed")) == batches[chat]
        for chain in {e["job_id"] for e in ours(chat)}:
            events = [e for e in seen if e["job_id"] == chain]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), chain
            kinds = [e["type"] for e in events]
            assert kinds == ["knowledge.extraction_started", "knowledge.extraction_completed"] * (len(kinds) // 2)


async def test_an_extraction_outlasts_an_llm_away_for_more_attempts_than_a_batch_had(
    stack, database, temporal, extractor, llm
):
    """11 transient faults in a row (8 attempts used to fail the batch and give its claim back); then the LLM
    answers again and the batch is extracted. The 429s name a short Retry-After, so the retries come quickly."""
    await llm.fault(path="/v1/chat/completions", kind="drop", times=2)
    await llm.fault(path="/v1/chat/completions", kind="status", status=429, retry_after=0.05, times=9)
    chat = -random.randrange(10**9, 10**12)
    async with database.begin() as conn:
        for n in range(12):
            await conn.execute(
                text(
                    "INSERT INTO message (telegram_chat_id, telegram_message_id, text, sent_at, source, created_at) "
                    "VALUES (:chat, :n, :text, now(), 'webhook', now())"
                ),
                {"chat": chat, "n": n, "text": f"{random.Random(n).choice(TOPICS)} report {n} needs a decision"},
            )
    settings = Settings(temporal_address=stack.temporal_address, task_queue="longrun-test", _env_file=None)
    handle = await start_job(temporal, settings, extraction_job(ExtractKnowledgeInput(chat_id=chat)), signal=MORE)
    async with asyncio.timeout(120):
        result = await handle.result()
    assert result.status == JobStatus.completed and result.messages == 12, result.progress.errors
    assert result.progress.errors == [] and result.progress.failed == 0
    async with database.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM message WHERE telegram_chat_id = :c AND extracted_at IS NULL"), {"c": chat}
        )
    assert left == 0
    assert await llm.requests("/v1/chat/completions") == 12
    faults = result.progress.details["faults"]
    # A dropped connection reads as either, depending on how far the request got when it was cut.
    assert faults.pop("HTTP 429") == 9 and sum(faults.values()) == 2, faults
    assert set(faults) <= {"RemoteProtocolError", "ReadError"}, faults
    assert LLM_RETRY.maximum_attempts == 0, "attempts are not what bounds a batch"


async def test_a_worker_told_to_stop_ends_an_idle_take_at_once_as_an_empty_one(stack):
    """SIGTERM must not wait out the drainer's LISTEN (up to a minute) for the graceful-shutdown timeout: the take
    ends empty and the drainer's next take goes to a worker that stays. Its own database, so no update is waiting."""
    database = stack.database(stack.create_database("inbox_shutdown", bootstrap=False))
    async with httpx.AsyncClient() as http:
        sessions = async_sessionmaker(database, expire_on_commit=False)
        avatars = AvatarCache(sessions, TelegramBotClient(http, "http://127.0.0.1:9", ""), Path("/nonexistent"))
        inbox = InboxActivities(sessions, avatars, ExtractionTrigger(), None, None)
        env = ActivityEnvironment()
        listening = asyncio.Event()
        env.on_heartbeat = lambda *_: listening.set()  # a recheck's heartbeat: the take is in its wait
        take = asyncio.ensure_future(env.run(inbox.take_updates, TakeInput(wait_seconds=600)))
        await asyncio.wait_for(listening.wait(), 30)
        env.worker_shutdown()
        outcome = await asyncio.wait_for(take, 30)
    await database.dispose()
    assert outcome == TakeOutcome()


async def test_scoring_a_message_again_changes_nothing(database):
    """What makes "scored once" hold whoever retries: the write only lands on a message with no score."""
    sessions = async_sessionmaker(database, expire_on_commit=False)
    chat = -random.randrange(10**12)
    async with database.begin() as conn:
        message_id = await conn.scalar(
            text(
                "INSERT INTO message (telegram_chat_id, telegram_message_id, text, sent_at, source, created_at) "
                "VALUES (:chat, 1, 'the invoices export times out after the last deploy', now(), 'webhook', now()) "
                "RETURNING id"
            ),
            {"chat": chat},
        )
    async with httpx.AsyncClient() as http:
        avatars = AvatarCache(sessions, TelegramBotClient(http, "http://127.0.0.1:9", ""), Path("/nonexistent"))
        activities = TrackerActivities(sessions, avatars, ExtractionTrigger())
        inp = ScoreInput(message_ids=[message_id], chat_ids=[chat])
        first = await ActivityEnvironment().run(activities.score_messages, inp)
        again = await ActivityEnvironment().run(activities.score_messages, inp)
    assert first.newly_scored == [message_id] and again.newly_scored == []
    assert first.scored == again.scored and len(first.scored) == 1
    async with database.connect() as conn:
        scored_at = await conn.scalar(text("SELECT scored_at FROM message WHERE id = :id"), {"id": message_id})
    assert scored_at is not None


async def test_an_avatar_that_cannot_be_stored_fails_itself_only_and_is_logged(
    database, stack, telegram_bot, tmp_path, caplog
):
    """An avatar is cosmetic: whatever fault a profile's avatar meets (here a file that cannot be written) counts it
    failed, logs it and leaves it for later; the step goes on with the others and never fails the drainer."""
    sessions = async_sessionmaker(database, expire_on_commit=False)
    users: dict[bool, int] = {}
    for user_id in range(random.randrange(10**8, 10**9), 10**9):
        has_photo = (await telegram_bot.control("GET", f"/_emulator/telegram_bot/users/{user_id}"))["photo_count"] > 0
        users.setdefault(has_photo, user_id)
        if len(users) == 2:
            break
    profiles = {}
    async with database.begin() as conn:
        for has_photo, user_id in users.items():
            profiles[has_photo] = await conn.scalar(
                text(
                    "INSERT INTO user_profile (telegram_user_id, first_name, is_bot, created_at, updated_at) "
                    "VALUES (:u, 'Avatar', false, now(), now()) RETURNING id"
                ),
                {"u": user_id},
            )
    (tmp_path / "taken").write_text("a file where the avatars directory should be")
    async with httpx.AsyncClient() as http:
        bot = TelegramBotClient(http, stack.telegram_bot_url, "123456:avatars-test")
        avatars = AvatarCache(sessions, bot, tmp_path / "taken" / "avatars")
        activities = AvatarActivities(sessions, avatars)
        inp = AvatarsInput(profile_ids=[profiles[True], profiles[False]])
        with caplog.at_level(logging.WARNING, logger="activities.tracker_avatars"):
            outcome = await ActivityEnvironment().run(activities.fetch_avatars, inp)
    assert outcome.counts == {"failed": 1, "none": 1}
    [error] = outcome.errors
    assert error.startswith(f"profile {profiles[True]}: ")
    assert any(f"avatar of profile {profiles[True]}" in r.getMessage() for r in caplog.records), caplog.records
    async with database.connect() as conn:
        unchecked = await conn.scalar(
            text("SELECT avatar_checked_at IS NULL FROM user_profile WHERE id = :id"), {"id": profiles[True]}
        )
    assert unchecked, "left for the author's next message or the next sweep"


async def test_a_poison_update_is_set_aside_and_the_inbox_drains(webhook, database):
    """An update stored that can never be saved (here: stored by an earlier version whose checks were looser) must not
    hold the inbox: it is set aside with its error, and the updates around it are saved."""
    base = random.randrange(10**9, 10**12)
    chat = -(base + 7)
    poison = update(base, chat, 1, 501, "poison")
    poison["message"]["date"] = "not a time"
    async with database.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO telegram_update (update_id, payload, received_at) "
                "VALUES (:u, CAST(:p AS jsonb), now() - interval '1 minute')"
            ),
            {"u": base, "p": json.dumps(poison)},
        )
    good = [update(base + n, chat, 1 + n, 501, random.Random(n).choice(TOPICS)) for n in range(1, 21)]
    for body in good:
        assert (await webhook.post("/webhook/telegram", json=body, headers=HEADERS)).status_code == 200

    async def drained():
        async with database.connect() as conn:
            saved = await conn.scalar(text("SELECT count(*) FROM message WHERE telegram_chat_id = :c"), {"c": chat})
            row = (
                await conn.execute(
                    text("SELECT saved_at, error FROM telegram_update WHERE update_id = :u"), {"u": base}
                )
            ).one()
        return (saved, row) if saved == len(good) and row.saved_at is not None else None

    saved, row = await eventually(drained, "the good updates saved and the poison set aside", within=60, interval=0.2)
    assert saved == len(good) and "ValidationError" in row.error and "date" in row.error
    async with database.connect() as conn:
        left = await conn.scalar(
            text(
                "SELECT count(*) FROM telegram_update WHERE update_id = ANY(:ids)"
                " AND (saved_at IS NULL OR error IS NOT NULL)"
            ),
            {"ids": [u["update_id"] for u in good]},
        )
    assert left == 0  # each good one saved, none set aside with the poison


async def test_a_take_whose_every_update_fails_is_retried_then_set_aside(webhook, database, temporal):
    """Every update of a take failing alike may be a bug (a model refusing all payloads), not a batch of poison: the
    take is retried first, nothing set aside; but a lone bad update must not hold the inbox for ever, so after a few
    attempts they are set aside all the same, and a good update that comes after is saved."""
    base = random.randrange(10**9, 10**12)
    chat = -(base + 11)
    # An update with no message (an edit, a callback...) saves nothing: it only makes sure the drainer runs.
    assert (await webhook.post("/webhook/telegram", json={"update_id": base}, headers=HEADERS)).status_code == 200

    async def unsaved(ids: list[int]):
        async with database.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT update_id, saved_at, error FROM telegram_update WHERE update_id = ANY(:ids)"),
                    {"ids": ids},
                )
            ).all()
        return rows

    await eventually(
        lambda: _all_saved(unsaved, [base]), "the drainer running and the inbox empty", within=60, interval=0.2
    )
    bad = [base + 1, base + 2]
    async with database.begin() as conn:
        for n, update_id in enumerate(bad, 1):
            payload = update(update_id, chat, n, 501, "bad")
            payload["message"]["date"] = "not a time"
            await conn.execute(
                text(
                    "INSERT INTO telegram_update (update_id, payload, received_at) "
                    "VALUES (:u, CAST(:p AS jsonb), now() - interval '1 minute')"
                ),
                {"u": update_id, "p": json.dumps(payload)},
            )

    async def take_failed_or_set_aside():
        rows = await unsaved(bad)
        if any(r.saved_at is not None for r in rows):
            return "set aside"
        running = "WorkflowType = 'TrackerInbox' AND ExecutionStatus = 'Running'"
        drainers = [temporal.get_workflow_handle(w.id) async for w in temporal.list_workflows(running)]
        pending = [p for d in drainers for p in (await d.describe()).raw_description.pending_activities]
        failed = [p for p in pending if p.last_failure.application_failure_info.type == "ValidationError"]
        return "retried" if failed else None

    outcome = await eventually(take_failed_or_set_aside, "the take of two bad updates handled", within=60, interval=0.2)
    assert outcome == "retried", "a take whose every update failed set them aside"
    assert all(r.saved_at is None and r.error is None for r in await unsaved(bad))

    await eventually(lambda: _all_saved(unsaved, bad), "the bad updates set aside after a few attempts", within=60)
    good = update(base + 3, chat, 3, 501, random.choice(TOPICS))
    assert (await webhook.post("/webhook/telegram", json=good, headers=HEADERS)).status_code == 200
    await eventually(lambda: _all_saved(unsaved, [*bad, base + 3]), "the good update after them saved", within=60)
    rows = {r.update_id: r for r in await unsaved([*bad, base + 3])}
    assert all("ValidationError" in rows[u].error for u in bad) and rows[base + 3].error is None
    async with database.connect() as conn:
        saved = await conn.scalar(text("SELECT count(*) FROM message WHERE telegram_chat_id = :c"), {"c": chat})
    assert saved == 1


async def _all_saved(unsaved, ids: list[int]) -> bool:
    rows = await unsaved(ids)
    return len(rows) == len(ids) and all(r.saved_at is not None for r in rows)
