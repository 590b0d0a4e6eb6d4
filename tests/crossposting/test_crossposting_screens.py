"""What the crossposting screen needs from the API beyond what jobs already answer: the exports to pick from, a MAX
token shown only by a hint that gives nothing away, and the limits a migration's rate is set against; on a
deployment of its own with an exports directory of its own."""

import pytest

from api.routes.crossposting import rate_limit_out
from clients.telegram_export import ExportSource
from settings import Settings
from tests.support.crossposting import FAST_MAX, FAST_MAX_EMULATOR, export_of, log_counts, make_link, migrate, unique
from tests.support.deployment import deployment

QUEUE = "migration-screens"


@pytest.fixture(scope="module")
def exports_dir(stack):
    folder = stack.data_dir / "exports-to-pick"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
async def screens(stack, admin, exports_dir):
    env = {**FAST_MAX, "LONGRUN_TELEGRAM_EXPORTS_DIR": str(exports_dir)}
    async with deployment(stack, admin, "migration-screens", QUEUE, **env) as api:
        yield api


def files_size(folder) -> int:
    return sum(f.lstat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


async def test_the_exports_directory_is_listed_checked_and_pickable(screens, exports_dir, make_user):
    good = export_of("gen_60_s12", exports_dir)
    broken = exports_dir / "a-broken-one"
    broken.mkdir()
    (broken / "result.json").write_text('{"name": "x", "type": "public_channel"}')
    (exports_dir / "still-exporting").mkdir()  # no result.json yet: not an export
    (exports_dir / "notes.txt").write_text("not a directory")

    listed = await screens.ok("GET", "/api/v1/telegram-exports")
    assert [e["name"] for e in listed] == sorted([good.name, broken.name])
    by_name = {e["name"]: e for e in listed}
    fine, bad = by_name[good.name], by_name[broken.name]
    async with ExportSource(good) as source:
        messages = await source.count()
    assert (fine["valid"], fine["problem"], fine["summary"]["message_count"]) == (True, None, messages)
    assert fine["size_bytes"] == files_size(good) > 0
    assert (bad["valid"], bad["summary"]) == (False, None) and "no messages list" in bad["problem"]

    # What the listing offers is what a channel takes; the broken one is refused as it was listed.
    channel = {"title": "picked", "source": "export", "export_path": fine["export_path"]}
    assert (await screens.ok("POST", "/api/v1/telegram-channels", 201, json=channel))["export_path"] == str(good)
    refused = await screens.ok(
        "POST", "/api/v1/telegram-channels", 422, json={**channel, "export_path": bad["export_path"]}
    )
    assert refused["detail"][0]["msg"] == bad["problem"]

    user = await make_user("user")
    assert (await user.http.get(f"{screens.url}/api/v1/telegram-exports")).status_code == 403


async def test_a_max_token_is_shown_only_by_a_hint_that_gives_nothing_away(screens):
    long_token, short_token = f"bot-{unique()}-0123456789abcdef", "short-tok"
    made = {}
    for token in (long_token, short_token):
        body = {"title": f"MAX {unique()}", "chat_id": 7_000 + unique(), "bot_token": token}
        made[token] = await screens.ok("POST", "/api/v1/max-channels", 201, json=body)
    assert made[long_token]["bot_token_hint"] == "…" + long_token[-4:]
    # Four of a nine-character token's characters would be most of it.
    assert made[short_token]["bot_token_hint"] == "…"
    changed = await screens.ok(
        "PATCH", f"/api/v1/max-channels/{made[long_token]['id']}", json={"bot_token": short_token}
    )
    assert changed["bot_token_hint"] == "…"
    answers = [
        *made.values(),
        changed,
        await screens.ok("GET", "/api/v1/max-channels"),
        await screens.ok("GET", f"/api/v1/max-channels/{made[short_token]['id']}"),
    ]
    assert not any(token in repr(answer) for answer in answers for token in (long_token, short_token))


async def test_a_migration_shows_the_limits_its_rate_is_set_against_and_its_log_counts(
    screens, stack, max_emulator, database
):
    await max_emulator.control("POST", "/_emulator/max/config", **FAST_MAX_EMULATOR)
    link = await make_link(screens, chat="gen_60_s12", max_chat=7_000 + unique(), token=f"bot-{unique()}")
    before = await screens.ok("GET", f"/api/v1/migrations/{link['id']}")
    assert before["job_id"] == f"migration-link-{link['id']}"
    assert before["log"] == {"pending": 0, "success": 0, "skipped": 0, "failed": 0}
    # This deployment's settings: 300 requests/s per token, the per-chat limit off, 4% headroom.
    assert before["rate_limit"] == {
        "requests_per_second": 300.0,
        "chat_messages_per_second": None,
        "headroom": 0.04,
        "messages_per_second": 288.0,
    }

    snap = await migrate(screens, link["id"])
    assert snap["status"] == "completed"
    after = await screens.ok("GET", f"/api/v1/migrations/{link['id']}")
    counted = await log_counts(database, link["id"])
    assert after["log"] == {status: counted.get(status, 0) for status in after["log"]}
    assert after["log"]["success"] == snap["succeeded"] > 0
    assert before["posts_published"] == 0
    assert 0 < after["posts_published"] <= after["log"]["success"]
    await screens.ok("GET", "/api/v1/migrations/999999999", 404)


def test_the_ceiling_is_the_lower_limit_less_the_headroom():
    both = Settings(max_rate_per_second=30, max_chat_messages_per_second=2, max_rate_headroom=0.04, _env_file=None)
    assert rate_limit_out(both).model_dump() == {
        "requests_per_second": 30.0,
        "chat_messages_per_second": 2.0,
        "headroom": 0.04,
        "messages_per_second": 1.92,
    }
    token_only = Settings(max_rate_per_second=30, max_chat_messages_per_second=0, max_rate_headroom=0, _env_file=None)
    assert rate_limit_out(token_only).messages_per_second == 30.0


async def test_a_failed_post_shows_its_text_in_the_log_and_a_published_one_does_not(screens, max_emulator):
    await max_emulator.control("POST", "/_emulator/max/config", **FAST_MAX_EMULATOR)
    link = await make_link(screens, chat="gen_40_s5", max_chat=7_000 + unique(), token=f"bot-{unique()}")
    await max_emulator.fault(path="/messages", kind="status", status=400, times=2)
    snap = await migrate(screens, link["id"])
    assert snap["status"] == "completed" and snap["failed"] >= 1

    failed = await screens.ok("GET", f"/api/v1/migrations/{link['id']}/log", params={"status": "failed"})
    assert failed["total"] >= 1
    # The post is kept for its retry, so the row can say which post it was (cut to a preview).
    assert all(row["error"] for row in failed["items"])
    assert any(row["text"] for row in failed["items"])
    assert all(row["text"] is None or 0 < len(row["text"]) <= 300 for row in failed["items"])
    published = await screens.ok("GET", f"/api/v1/migrations/{link['id']}/log", params={"status": "success"})
    assert published["total"] > 0 and all(row["text"] is None for row in published["items"])
