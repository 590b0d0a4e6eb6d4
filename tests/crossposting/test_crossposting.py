"""Telegram → MAX migration on the real stack: the pyrogram stand-in and a Desktop export as sources, the MAX
emulator as destination, a worker process and the API between them."""

import json
import os
from pathlib import Path

import pytest

from clients.telegram_export import ExportSource
from devstack.clients import Api, eventually, expected_in_max, in_max
from domain.max_split import plan_post
from tests.support.crossposting import (
    FAST_MAX,
    FAST_MAX_EMULATOR,
    export_of,
    log_counts,
    logged_max_ids,
    make_link,
    max_count_reaches,
    media_left,
    migrate,
    unique,
)
from tests.support.deployment import deployment
from tests.support.histories import record

QUEUE = "migration"


@pytest.fixture(scope="module")
async def mig(stack, admin):
    """This module's deployment: its own API and worker, MAX's limits raised so a channel moves in seconds."""
    env = {**FAST_MAX, "LONGRUN_TELEGRAM_EXPORTS_DIR": str(stack.data_dir / "exports")}
    async with deployment(stack, admin, "migration", QUEUE, **env) as api:
        yield api


@pytest.fixture
async def fast_max(max_emulator):
    await max_emulator.control("POST", "/_emulator/max/config", **FAST_MAX_EMULATOR)
    return max_emulator


@pytest.mark.parametrize("source", ["pyrogram", "export"])
async def test_a_channel_moves_over_once_in_order(source, mig, stack, fast_max, database, temporal):
    chat, max_chat, token = "gen_1000_s3", 7_000 + unique(), f"bot-{unique()}"
    export = export_of(chat, stack.data_dir / "exports") if source == "export" else None
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=token, export_path=export)
    job = await migrate(mig, link["id"], within=240)
    assert job["status"] == "completed", job

    expected = await expected_in_max(stack.telegram_url, chat)
    arrived = await in_max(fast_max, max_chat)
    assert arrived == expected  # every publishable post once, in order, albums as one message each
    assert any(len(kinds) > 1 for _, kinds in arrived), "the channel has albums"
    counts = await log_counts(database, link["id"])
    assert counts.get("pending", 0) == 0 and counts.get("failed", 0) == 0
    assert len(await logged_max_ids(database, link["id"])) == len(arrived)
    result = job["result"]
    assert result["posts_published"] == len(arrived) and result["messages_migrated"] == counts["success"]
    assert job["skipped"] == job["total"] - counts["success"]  # service messages, polls...: counted, not sent
    assert job["details"]["media_files"] > 0 and job["details"]["media_bytes"] > 0
    assert media_left(stack.data_dir) == []
    if source == "pyrogram" and os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job["job_id"], "MigrateChannel-completed")


async def test_a_rerun_publishes_nothing_new(mig, stack, fast_max, database):
    chat, max_chat = "gen_150_s4", 7_000 + unique()
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=f"bot-{unique()}")
    await migrate(mig, link["id"])
    before, logged = await in_max(fast_max, max_chat), await log_counts(database, link["id"])
    again = await migrate(mig, link["id"])
    assert again["status"] == "completed" and again["result"]["messages_migrated"] == 0
    assert again["details"]["already_migrated"] == logged["success"] + logged.get("skipped", 0)
    assert await log_counts(database, link["id"]) == logged
    assert await in_max(fast_max, max_chat) == before


async def test_refused_posts_fail_alone_and_retry_failed_sends_them(mig, stack, fast_max, database):
    chat, max_chat = "gen_120_s5", 7_000 + unique()
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=f"bot-{unique()}")
    await fast_max.fault(path="/messages", kind="status", status=400, times=3)
    job = await migrate(mig, link["id"])
    assert job["status"] == "completed" and job["failed"] > 0
    failed = await mig.ok("GET", f"/api/v1/migrations/{link['id']}/log", params={"status": "failed"})
    assert failed["total"] == job["failed"] and all("400" in row["error"] for row in failed["items"])

    retried = (await mig.ok("POST", f"/api/v1/migrations/{link['id']}/retry-failed", 202))["job_id"]
    retry = await mig.wait_job(retried)
    assert retry["status"] == "completed" and retry["result"]["messages_migrated"] == job["failed"]
    assert (await log_counts(database, link["id"])).get("failed", 0) == 0
    expected = await expected_in_max(stack.telegram_url, chat)
    assert sorted(await in_max(fast_max, max_chat)) == sorted(expected)  # all there once; the retried at the end
    nothing = await mig.http.post(f"/api/v1/migrations/{link['id']}/retry-failed")
    assert nothing.status_code == 409


async def test_flood_wait_and_429_are_honoured(mig, stack, fast_max, telegram):
    chat, max_chat = "gen_150_s6", 7_000 + unique()
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=f"bot-{unique()}")
    await telegram.fault(path="/rpc/messages.GetHistory", kind="rpc_error", status=420, error_message="FLOOD_WAIT_2",
                         times=1)  # fmt: skip
    await fast_max.fault(path="/messages", kind="status", status=429, retry_after=0.5, times=3)
    job = await migrate(mig, link["id"])
    assert job["status"] == "completed"
    assert await in_max(fast_max, max_chat) == await expected_in_max(stack.telegram_url, chat)
    assert (await telegram.stats())["faults_applied"]["/rpc/messages.GetHistory"] == 1


async def test_an_unknown_outcome_is_looked_up_in_max_not_sent_twice(mig, stack, fast_max, temporal):
    chat, max_chat = "gen_120_s7", 7_000 + unique()  # its first post to send has a file
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=f"bot-{unique()}")
    # MAX stores the message and the connection drops before the answer: did it arrive? Look, don't resend.
    await fast_max.fault(path="/messages", kind="drop_after", times=2)
    job = await migrate(mig, link["id"])
    assert job["status"] == "completed"
    assert await in_max(fast_max, max_chat) == await expected_in_max(stack.telegram_url, chat)
    # Looked up (the look-up's own dropped answer asked again) within the publish step: no step failed for it.
    events = (await temporal.get_workflow_handle(job["job_id"]).fetch_history()).events
    started = [
        e.activity_task_started_event_attributes for e in events if e.HasField("activity_task_started_event_attributes")
    ]
    assert started and all(s.attempt == 1 for s in started), [(s.attempt, s.last_failure.message) for s in started]


async def test_cancel_publishes_nothing_after_cancelled(mig, stack, fast_max, database, temporal):
    chat, max_chat = "gen_400_s8", 7_000 + unique()
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=f"bot-{unique()}")
    await fast_max.fault(path="/messages", kind="latency", latency_ms=100)
    job_id = (await mig.ok("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]}))["job_id"]
    await max_count_reaches(fast_max, max_chat, 10)
    await mig.ok("POST", f"/api/v1/jobs/{job_id}/cancel", 202)
    job = await mig.wait_job(job_id)
    assert job["status"] == "cancelled"
    at_cancel = await in_max(fast_max, max_chat)
    assert 10 <= len(at_cancel) < len(await expected_in_max(stack.telegram_url, chat))
    # The publish step had stopped when the job said cancelled: nothing is under way, nothing more arrives.
    assert not (await temporal.get_workflow_handle(job_id).describe()).raw_description.pending_activities
    assert len(await logged_max_ids(database, link["id"])) == len(at_cancel)
    assert await in_max(fast_max, max_chat) == at_cancel
    assert media_left(stack.data_dir) == []
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job_id, "MigrateChannel-cancelled")


async def test_pause_keeps_the_place_and_resume_finishes(mig, stack, fast_max, temporal):
    chat, max_chat = "gen_300_s9", 7_000 + unique()
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=f"bot-{unique()}")
    await fast_max.fault(path="/messages", kind="latency", latency_ms=50)
    job_id = (await mig.ok("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]}))["job_id"]
    await max_count_reaches(fast_max, max_chat, 10)
    paused = await mig.ok("POST", f"/api/v1/migrations/{link['id']}/pause", 202)
    assert paused == {"job_id": job_id, "signal": "pause"}

    async def is_paused():
        return (await mig.job(job_id))["status"] == "paused"

    await eventually(is_paused, "the migration to pause", within=30)
    # The 1C front end's task shape knows no `paused`: the task runs on, and its message says it is paused.
    task = await mig.ok("GET", f"/api/v1/tasks/{job_id}")
    assert task["status"] == "running" and task["message"].startswith("paused"), task
    handle = temporal.get_workflow_handle(job_id)
    assert not (await handle.describe()).raw_description.pending_activities
    held = await in_max(fast_max, max_chat)
    await mig.ok("POST", f"/api/v1/migrations/{link['id']}/resume", 202)
    job = await mig.wait_job(job_id)
    assert job["status"] == "completed"
    arrived = await in_max(fast_max, max_chat)
    assert arrived[: len(held)] == held and arrived == await expected_in_max(stack.telegram_url, chat)
    idle = await mig.http.post(f"/api/v1/migrations/{link['id']}/pause")
    assert idle.status_code == 409


async def test_dry_run_counts_without_publishing(mig, stack, fast_max, database):
    chat, max_chat = "gen_200_s10", 7_000 + unique()
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=f"bot-{unique()}")
    job = await migrate(mig, link["id"], dry_run=True)
    assert job["status"] == "completed" and job["result"]["dry_run"] is True
    assert job["result"]["would_publish"] > 0 and job["result"]["messages_migrated"] == 0
    assert await in_max(fast_max, max_chat) == [] and await log_counts(database, link["id"]) == {}


async def test_a_second_start_returns_the_running_job(mig, stack, fast_max):
    link = await make_link(mig, chat="gen_300_s11", max_chat=7_000 + unique(), token=f"bot-{unique()}")
    await fast_max.fault(path="/messages", kind="latency", latency_ms=50)
    first = await mig.ok("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]})
    second = await mig.ok("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]})
    assert first["job_id"] == second["job_id"] == f"migration-link-{link['id']}"
    # The second start ran nothing new, and says so.
    assert first["joined"] is False and second["joined"] is True and second["running_since"]
    await mig.ok("POST", f"/api/v1/jobs/{first['job_id']}/cancel", 202)
    await mig.wait_job(first["job_id"])


async def test_bad_input_is_named_and_roles_hold(mig, stack, make_user):
    missing = await mig.http.post("/api/v1/migrations", json={"link_id": 10**9})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "link_id"]
    backwards = await mig.http.post(
        "/api/v1/migrations", json={"link_id": 1, "since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}
    )
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["body", "until"]
    no_export = await mig.http.post(
        "/api/v1/telegram-channels",
        json={"title": "x", "source": "export", "export_path": str(stack.data_dir / "exports" / "nothing-here")},
    )
    assert no_export.status_code == 422 and no_export.json()["detail"][0]["loc"] == ["body", "export_path"]
    outside = await mig.http.post(
        "/api/v1/telegram-channels", json={"title": "x", "source": "export", "export_path": "/etc"}
    )
    assert outside.status_code == 422 and outside.json()["detail"][0]["loc"] == ["body", "export_path"]
    no_chat = await mig.http.post("/api/v1/telegram-channels", json={"title": "x", "source": "pyrogram"})
    assert no_chat.status_code == 422

    user = Api(mig.url, (await make_user("user")).token)
    assert (await user.http.get("/api/v1/links")).status_code == 200
    assert (await user.http.post("/api/v1/max-channels", json={"title": "x", "chat_id": 1, "bot_token": "t"})
            ).status_code == 403  # fmt: skip
    assert (await user.http.post("/api/v1/migrations", json={"link_id": 1})).status_code == 403
    manager = Api(mig.url, (await make_user("manager")).token)
    made = await manager.ok(
        "POST", "/api/v1/max-channels", 201, json={"title": "m", "chat_id": 5, "bot_token": "a-long-bot-secret-1234"}
    )
    assert made["bot_token_hint"] == "…1234" and "bot_token" not in made
    await user.close()
    await manager.close()


def corrupt_date(export: Path, date_unixtime: str) -> tuple[int, str]:
    """Give the first lone text message of the export an impossible date; its id and its text."""
    result = export / "result.json"
    data = json.loads(result.read_text(encoding="utf-8"))
    lone = next(
        m
        for m in data["messages"]
        if m.get("type") == "message" and isinstance(m.get("text"), str) and m["text"]
        and not {"photo", "file", "poll"} & m.keys()
    )  # fmt: skip
    lone["date_unixtime"] = date_unixtime
    result.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return lone["id"], lone["text"]


async def test_bad_export_data_is_a_422_at_save_and_a_skipped_post_in_a_job(mig, stack, fast_max, database):
    chat, max_chat = "gen_60_s12", 7_000 + unique()
    bad = export_of(chat, stack.data_dir / "exports")
    corrupt_date(bad, "253402300800")  # 10000-01-01: datetime cannot hold it
    refused = await mig.http.post(
        "/api/v1/telegram-channels", json={"title": "x", "source": "export", "export_path": str(bad)}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "export_path"]
    assert "date_unixtime '253402300800'" in refused.json()["detail"][0]["msg"]

    # An export that was good when saved and changed since: the job skips that post, logs why, moves the rest.
    export = export_of(chat, stack.data_dir / "exports")
    link = await make_link(mig, chat=chat, max_chat=max_chat, token=f"bot-{unique()}", export_path=export)
    async with ExportSource(export) as source:
        before = {p.id: p for p in (await source.page(0, 1000)).posts}
    bad_id, _ = corrupt_date(export, "253402300800")
    left_out = before[bad_id]
    job = await migrate(mig, link["id"])
    assert job["status"] == "completed", job

    skipped = await mig.ok("GET", f"/api/v1/migrations/{link['id']}/log", params={"status": "skipped", "limit": 1000})
    row = next(r for r in skipped["items"] if r["telegram_message_id"] == bad_id)
    assert row["error"].startswith("unreadable date_unixtime '253402300800'")
    assert (await log_counts(database, link["id"])).get("failed", 0) == 0
    expected = await expected_in_max(stack.telegram_url, chat)
    for part in plan_post(left_out):
        expected.remove((part.plain, [k.value for k in part.kinds]))
    assert await in_max(fast_max, max_chat) == expected


async def test_a_channel_cannot_lose_the_field_its_source_reads(mig, stack):
    export = export_of("gen_50", stack.data_dir / "exports")
    live = await mig.ok("POST", "/api/v1/telegram-channels", 201, json={"title": "x", "chat": "gen_50"})
    exported = await mig.ok(
        "POST", "/api/v1/telegram-channels", 201, json={"title": "y", "source": "export", "export_path": str(export)}
    )
    for channel, field in ((live, "chat"), (exported, "export_path")):
        answer = await mig.http.patch(f"/api/v1/telegram-channels/{channel['id']}", json={field: None})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["body", field]
        assert (await mig.ok("GET", f"/api/v1/telegram-channels/{channel['id']}", 200))[field] == channel[field]
