"""Tracker ingestion on the real stack: a chat's history read through pyrogram from the Telegram stand-in, saved and
scored once each, with `ingestion.*` events in order on `WS /api/v1/ws/events`; limit, since, cancel and a worker
killed mid-page; bad input and roles."""

import asyncio
import os
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.tracker_ingestion import (
    Counts,
    EventCursor,
    FinishInput,
    IngestionActivities,
    IngestionScope,
    PageInput,
)
from clients.telegram_history import ChatHistory
from devstack.clients import Api, eventually
from emulators.telegram_channel import ChannelSpec, generate
from settings import Settings
from tests.support.deployment import deployment
from tests.support.events import open_stream, receive
from tests.support.histories import record
from tests.support.tracker import RawEvents
from workflows.start import start_job
from workflows.tracker_ingestion import ingestion_job

QUEUE = "ingestion"
CRASH_QUEUE = "ingestion-crash"
FINAL = ("ingestion.completed", "ingestion.failed")


def chat_id(chat: str) -> int:
    """The Bot API style id pyrogram gives the stand-in's channel (-100 followed by the channel id)."""
    return -(10**12 + ChannelSpec.parse(chat).channel_id)


def written(chat: str, newest: int | None = None, since: datetime | None = None) -> list[int]:
    """The ids of the messages an ingestion of `chat` keeps, from the stand-in's own generator: everything but
    service messages, among the `newest` messages or those sent `since`."""
    messages = list(reversed(generate(ChannelSpec.parse(chat))))
    if newest is not None:
        messages = messages[:newest]
    if since is not None:
        messages = [m for m in messages if m.date >= since.timestamp()]
    return sorted(m.id for m in messages if m.service is None)


class Events:
    """Every event the admin's socket receives, by job: opened before a job starts, so none passes it by."""

    def __init__(self, ws) -> None:
        self.by_job: dict[str, list[dict[str, Any]]] = {}
        self._task = asyncio.ensure_future(self._read(ws))

    async def _read(self, ws) -> None:
        while True:
            event = await receive(ws, within=600)
            if event.get("job_id"):
                self.by_job.setdefault(event["job_id"], []).append(event)

    async def final(self, job_id: str, within: float = 60) -> list[dict[str, Any]]:
        async def closed():
            events = self.by_job.get(job_id, [])
            return events if events and events[-1]["type"] in FINAL else None

        return await eventually(closed, f"the last event of {job_id}", within)

    def close(self) -> None:
        self._task.cancel()


@pytest.fixture(scope="module")
async def ing(stack, admin):
    async with deployment(stack, admin, "ingestion", QUEUE) as api:
        yield api


@pytest.fixture
async def events(ing, admin):
    async with AsyncExitStack() as sockets:
        log = Events(await open_stream(sockets, ing.url, admin.token))
        yield log
        log.close()


async def ingest(api: Api, chat: str, within: float = 120, **options: Any) -> dict[str, Any]:
    started = await api.ok("POST", "/api/v1/ingestion", 202, json={"chat": chat, **options})
    assert started["status"] == "pending" and started["job_id"] == f"tracker-ingest-{started['id']}"
    await api.wait_job(started["job_id"], within)
    return await api.ok("GET", f"/api/v1/ingestion/{started['id']}")


async def stored(database, chat: str) -> list[tuple[int, float | None, str]]:
    async with database.connect() as conn:
        rows = await conn.execute(
            text(
                "select telegram_message_id, importance_score, source from message where telegram_chat_id = :c "
                "order by telegram_message_id"
            ),
            {"c": chat_id(chat)},
        )
        return [tuple(row) for row in rows]


async def job_row(database, chat: str, status: str) -> int:
    """A MessageIngestionJob row as the API writes one, for a test that drives the steps or the workflow itself."""
    async with database.begin() as conn:
        return await conn.scalar(
            text(
                "insert into message_ingestion_job (chat, status, messages_fetched, messages_saved, messages_skipped,"
                " errors_count, created_at) values (:c, :s, 0, 0, 0, 0, now()) returning id"
            ),
            {"c": chat, "s": status},
        )


def check_sequence(events: list[dict[str, Any]], final: str) -> None:
    """Numbered 1..n without gaps or repeats, started first, progress at most one per 10 messages, `final` last."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "ingestion.started" and events[-1]["type"] == final
    progress = [e["data"]["processed"] for e in events if e["type"] == "ingestion.progress"]
    assert all(later - earlier >= 10 for earlier, later in zip(progress, progress[1:], strict=False)), progress
    assert [e["type"] for e in events[1:-1]] == ["ingestion.progress"] * len(progress)


async def test_a_chat_is_ingested_once_and_again_saves_nothing(ing, events, database, temporal):
    chat = "gen_1000_s21"
    expected = written(chat)
    first = await ingest(ing, chat)
    assert first["status"] == "completed", first
    assert (first["messages_fetched"], first["messages_saved"], first["messages_skipped"]) == (1000, len(expected), 0)
    rows = await stored(database, chat)
    assert [r[0] for r in rows] == expected  # each kept message once, service messages left out
    assert all(score is not None for _, score, _ in rows) and {source for *_, source in rows} == {"ingestion"}

    sequence = await events.final(first["job_id"])
    check_sequence(sequence, "ingestion.completed")
    assert 10 <= len(sequence) - 2 <= 100  # a page of 100 says progress once
    assert sequence[-1]["data"]["messages_saved"] == len(expected)
    result = (await ing.job(first["job_id"]))["result"]
    assert result["messages_saved"] == len(expected) and result["service_messages"] == 1000 - len(expected)
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, first["job_id"], "IngestMessages-completed")

    again = await ingest(ing, chat)
    assert again["status"] == "completed"
    assert (again["messages_fetched"], again["messages_saved"], again["messages_skipped"]) == (1000, 0, len(expected))
    assert await stored(database, chat) == rows
    check_sequence(await events.final(again["job_id"]), "ingestion.completed")


async def test_limit_and_since_are_honoured(ing, database):
    chat = "gen_400_s22"
    row = await ingest(ing, chat, limit=150)
    assert row["status"] == "completed" and row["messages_fetched"] == 150
    assert [r[0] for r in await stored(database, chat)] == written(chat, newest=150)

    chat = "gen_400_s23"
    messages = generate(ChannelSpec.parse(chat))
    since = datetime.fromtimestamp(messages[-230].date, UTC)
    row = await ingest(ing, chat, since=since.isoformat())
    assert row["status"] == "completed"
    assert [r[0] for r in await stored(database, chat)] == written(chat, since=since)
    assert row["messages_fetched"] == sum(1 for m in messages if m.date >= since.timestamp())


async def test_cancel_stops_the_ingestion(ing, events, telegram, database, temporal):
    chat = "gen_3000_s24"
    await telegram.fault(path="/rpc/messages.GetHistory", kind="latency", latency_ms=300)
    started = await ing.ok("POST", "/api/v1/ingestion", 202, json={"chat": chat})

    async def some_saved():
        return (await ing.ok("GET", f"/api/v1/ingestion/{started['id']}"))["messages_saved"] >= 200

    await eventually(some_saved, "200 messages saved", within=60)
    cancel = await ing.ok("POST", f"/api/v1/ingestion/{started['id']}/cancel", 202)
    assert cancel == {"job_id": started["job_id"], "status": "cancelling"}
    job = await ing.wait_job(started["job_id"])
    assert job["status"] == "cancelled"
    row = await ing.ok("GET", f"/api/v1/ingestion/{started['id']}")
    assert row["status"] == "cancelled" and row["completed_at"] is not None
    rows = await stored(database, chat)
    assert 200 <= len(rows) == row["messages_saved"] < len(written(chat))
    # The page under way had stopped when the job said cancelled: nothing is running, nothing more arrives.
    assert not (await temporal.get_workflow_handle(started["job_id"]).describe()).raw_description.pending_activities
    sequence = await events.final(started["job_id"])
    check_sequence(sequence, "ingestion.completed")
    assert sequence[-1]["data"]["status"] == "cancelled"
    assert sequence[-1]["data"]["messages_saved"] == row["messages_saved"]
    assert len(await stored(database, chat)) == len(rows)
    again = await ing.http.post(f"/api/v1/ingestion/{started['id']}/cancel")
    assert again.status_code == 409
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, started["job_id"], "IngestMessages-cancelled")


async def test_an_unknown_chat_fails_the_job_saying_so(ing, events):
    for chat, says in (("nobody_here_25", "USERNAME_NOT_OCCUPIED"), ("private_ingest", "CHANNEL_PRIVATE")):
        started = await ing.ok("POST", "/api/v1/ingestion", 202, json={"chat": chat})
        job = await ing.wait_job(started["job_id"])
        assert job["status"] == "failed"
        row = await ing.ok("GET", f"/api/v1/ingestion/{started['id']}")
        assert row["status"] == "failed" and "does not exist" in row["error_message"] and says in row["error_message"]
        sequence = await events.final(started["job_id"])
        check_sequence(sequence, "ingestion.failed")
        assert sequence[-1]["data"]["error"] == row["error_message"]


async def test_private_chats_of_the_service_account_are_never_ingested(ing, events, database):
    for chat in ("self", "@self", "SELF", "123456789"):
        answer = await ing.http.post("/api/v1/ingestion", json={"chat": chat})
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "chat"], answer.text
    # A person's or a bot's @username: only Telegram can say what it is, so the job refuses it, at once.
    for chat, chat_type in (("person_ingest_28", "private"), ("ingest28_bot", "bot")):
        started = await ing.ok("POST", "/api/v1/ingestion", 202, json={"chat": chat})
        job = await ing.wait_job(started["job_id"])
        row = await ing.ok("GET", f"/api/v1/ingestion/{started['id']}")
        assert job["status"] == "failed" and row["status"] == "failed", (job, row)
        assert f"chat type: {chat_type}" in row["error_message"] and row["messages_fetched"] == 0
        assert (await events.final(started["job_id"]))[-1]["type"] == "ingestion.failed"
    async with database.connect() as conn:
        private = await conn.scalar(text("select count(*) from message where telegram_chat_id > 0"))
    assert private == 0


async def test_a_worker_killed_mid_ingestion_loses_and_repeats_nothing(stack, admin, telegram, database):
    chat = "gen_2500_s26"
    url = stack.start_api("api-ingestion-crash", task_queue=CRASH_QUEUE)
    api = Api(url, admin.token)
    raw = await RawEvents().listen(database)
    try:
        async with AsyncExitStack() as sockets:
            log = Events(await open_stream(sockets, url, admin.token))
            await telegram.fault(path="/rpc/messages.GetHistory", kind="latency", latency_ms=150)
            worker = stack.start_worker("worker-ingestion-crash-1", task_queue=CRASH_QUEUE)
            started = await api.ok("POST", "/api/v1/ingestion", 202, json={"chat": chat})
            for target, name in ((400, "worker-ingestion-crash-2"), (1200, "worker-ingestion-crash-3")):

                async def far_enough(target=target):
                    row = await api.ok("GET", f"/api/v1/ingestion/{started['id']}")
                    return row["messages_fetched"] >= target

                await eventually(far_enough, f"{target} messages read", within=90, interval=0.05)
                worker.kill9()
                worker = stack.start_worker(name, task_queue=CRASH_QUEUE)
            await api.wait_job(started["job_id"], within=180)
            row = await api.ok("GET", f"/api/v1/ingestion/{started['id']}")
            sequence = await log.final(started["job_id"])
            log.close()
        expected = written(chat)
        assert row["status"] == "completed", row
        assert (row["messages_fetched"], row["messages_saved"], row["messages_skipped"]) == (2500, len(expected), 0)
        assert [r[0] for r in await stored(database, chat)] == expected
        check_sequence(sequence, "ingestion.completed")
        # Sent once each: a page the dead worker committed was not announced again by its retry.
        assert raw.of(started["job_id"]) == [e["seq"] for e in sequence]
    finally:
        await raw.close()
        await api.close()
        stack.stop_named("api-ingestion-crash", "worker-ingestion-crash-3")


async def test_bad_input_is_named_and_roles_hold(ing, make_user):
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for body, field in (
        ({"chat": "not a chat"}, "chat"),
        ({"chat": ""}, "chat"),
        ({"chat": "gen_10", "limit": -5}, "limit"),
        ({"chat": "gen_10", "limit": 0}, "limit"),
        ({"chat": "gen_10", "since": future}, "since"),
        ({"chat": "gen_10", "since": "yesterday"}, "since"),
    ):
        answer = await ing.http.post("/api/v1/ingestion", json=body)
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", field], (body, answer.text)
    assert (await ing.http.get("/api/v1/ingestion/999999999")).status_code == 404
    assert (await ing.http.get("/api/v1/messages", params={"noise_class": "loud"})).status_code == 422
    assert (await ing.http.get("/api/v1/messages", params={"limit": 0})).status_code == 422

    viewer = Api(ing.url, (await make_user("user")).token)
    assert (await viewer.http.post("/api/v1/ingestion", json={"chat": "gen_10"})).status_code == 403
    assert (await viewer.http.post("/api/v1/ingestion/1/cancel")).status_code == 403
    listed = await viewer.ok("GET", "/api/v1/ingestion", params={"limit": 2})
    assert len(listed["items"]) <= 2 and listed["total"] >= len(listed["items"])
    manager = Api(ing.url, (await make_user("manager")).token)
    row = await ingest(manager, "gen_30_s27")
    assert row["status"] == "completed" and row["messages_saved"] > 0
    assert await viewer.ok("GET", f"/api/v1/ingestion/{row['id']}") == row
    await viewer.close()
    await manager.close()


async def test_messages_profiles_topics_and_atoms_read(ing, make_user, database):
    chat = "gen_60_s28"
    await ingest(ing, chat)
    viewer = Api(ing.url, (await make_user("user")).token)
    page = await viewer.ok("GET", "/api/v1/messages", params={"chat": chat_id(chat), "limit": 20, "offset": 5})
    assert page["total"] == len(written(chat)) and len(page["items"]) == 20
    assert all(m["telegram_chat_id"] == chat_id(chat) and m["noise_class"] for m in page["items"])
    first = page["items"][0]
    assert await viewer.ok("GET", f"/api/v1/messages/{first['id']}") == first
    noise = await viewer.ok("GET", "/api/v1/messages", params={"chat": chat_id(chat), "noise_class": "noise"})
    assert all(m["noise_class"] == "noise" for m in noise["items"]) and noise["total"] < page["total"]
    assert (await viewer.http.get("/api/v1/messages/999999999")).status_code == 404

    async with database.begin() as conn:
        topic = await conn.scalar(
            text(
                "insert into topic (name, description, created_at, updated_at) values (:n, 'd', now(), now()) "
                "returning id"
            ),
            {"n": f"ingest topic {first['id']}"},  # fmt: skip
        )
        atom = await conn.scalar(
            text(
                "insert into atom (topic_id, type, title, content, created_at) values (:t, 'decision', 'a', 'c', "
                "now()) returning id"
            ),
            {"t": topic},  # fmt: skip
        )
        await conn.execute(text("update message set topic_id = :t where id = :m"), {"t": topic, "m": first["id"]})
        await conn.execute(text("insert into atom_message values (:a, :m)"), {"a": atom, "m": first["id"]})
        # The stand-in's chats are channels, whose posts have no author: a profile of the kind the webhook writes.
        await conn.execute(
            text(
                "insert into user_profile (telegram_user_id, first_name, is_bot, created_at, updated_at) "
                "values (:u, 'Reader', false, now(), now())"
            ),
            {"u": 9 * 10**14 + first["id"]},
        )
    detail = await viewer.ok("GET", f"/api/v1/topics/{topic}")
    assert [a["id"] for a in detail["atoms"]] == [atom]
    assert topic in [t["id"] for t in (await viewer.ok("GET", "/api/v1/topics", params={"limit": 1000}))["items"]]
    assert (await viewer.ok("GET", f"/api/v1/atoms/{atom}"))["message_ids"] == [first["id"]]
    by_topic = await viewer.ok("GET", "/api/v1/atoms", params={"topic_id": topic})
    assert [a["id"] for a in by_topic["items"]] == [atom] and by_topic["total"] == 1
    in_topic = await viewer.ok("GET", "/api/v1/messages", params={"topic_id": topic})
    assert [m["id"] for m in in_topic["items"]] == [first["id"]]
    profiles = await viewer.ok("GET", "/api/v1/profiles")
    assert profiles["total"] == len(profiles["items"]) or len(profiles["items"]) == 100
    one = profiles["items"][0]
    assert await viewer.ok("GET", f"/api/v1/profiles/{one['id']}") == one
    assert (await viewer.http.get("/api/v1/profiles/999999999")).status_code == 404
    assert (await viewer.http.get("/api/v1/topics/999999999")).status_code == 404
    await viewer.close()


async def test_a_page_whose_answer_was_lost_is_not_saved_counted_or_announced_again(stack, database):
    """The retry of a page step that committed before its worker died: it must find that out and write nothing."""
    chat = "gen_250_s29"
    job_id = await job_row(database, chat, "running")
    settings = Settings(telegram_emulator_url=stack.telegram_url, _env_file=None)
    activities = IngestionActivities(async_sessionmaker(database), lambda c: ChatHistory.from_settings(settings, c))
    scope = IngestionScope(job_id=job_id, workflow_id=f"tracker-ingest-{job_id}", owner="admin", chat=chat)
    page = PageInput(scope=scope, before_id=0, counts=Counts(), events=EventCursor(next_seq=2))
    raw = await RawEvents().listen(database)
    try:
        first = await ActivityEnvironment().run(activities.ingest_page, page)
        again = await ActivityEnvironment().run(activities.ingest_page, page)
        assert first.counts.fetched == 100 and first.events == EventCursor(next_seq=3, throttle_last=100)
        assert again.model_dump(exclude={"scored"}) == first.model_dump(exclude={"scored"}) and again.scored == 0
        assert len(await stored(database, chat)) == first.counts.saved
        done = FinishInput(scope=scope, status="completed", counts=first.counts, events=first.events)
        finished = [await ActivityEnvironment().run(activities.finish, done) for _ in range(2)]
        assert finished[0] == finished[1] and finished[0].status == "completed"

        async def announced():
            return raw.of(scope.workflow_id) == [2, 3]  # the page's progress once, the end once

        await eventually(announced, "one progress and one completed event")
    finally:
        await raw.close()


async def test_a_long_history_continues_as_new_and_counts_on(ing, database, temporal):
    chat = "gen_450_s30"
    job_id = await job_row(database, chat, "pending")
    job = ingestion_job(job_id, "admin")
    job.arg.pages_per_run = 2
    handle = await start_job(temporal, Settings(task_queue=QUEUE, _env_file=None), job)
    result = await handle.result()
    assert result.status == "completed" and result.messages_fetched == 450
    assert result.messages_saved == len(written(chat)) == result.progress.succeeded
    assert [r[0] for r in await stored(database, chat)] == written(chat)
    runs = [e async for e in temporal.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) >= 3  # 5 pages, 2 a run
