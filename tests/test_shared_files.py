"""Files every replica reads, on the real stack: an API and a worker with data directories of their own (as on two
hosts) and one LONGRUN_SHARED_DIR between them. A Desktop export the API checked is what the worker reads, an avatar
the worker fetched is what the API serves, and an export that changed after the API checked it fails the job at once
without a message sent to MAX."""

import os
import shutil
from pathlib import Path

import pytest

from api.routes.tracker_read import _avatar_file
from devstack.clients import Api, expected_in_max, in_max
from devstack.stack import ADMIN_PASSWORD
from settings import Settings
from tests.support.crossposting import FAST_MAX, FAST_MAX_EMULATOR, export_of, make_link, migrate, unique
from tests.support.deployment import isolated
from tests.support.tracker_live import (
    SECRET,
    author,
    avatar_checked,
    hook,
    message,
    new_ids,
    stored_message,
    user_with_photo,
)

QUEUE = "shared-files"
JPEG_START = b"\xff\xd8"


def test_exports_and_avatars_live_in_the_shared_dir_and_media_stays_per_worker(tmp_path):
    own, shared = tmp_path / "host", tmp_path / "shared"
    alone = Settings.without_env_file(data_dir=own)
    assert (alone.exports_dir, alone.avatars_dir) == (own / "exports", own / "avatars")  # `make up`: unchanged
    settings = Settings.without_env_file(data_dir=own, shared_dir=str(shared))
    assert (settings.exports_dir, settings.avatars_dir) == (shared / "exports", shared / "avatars")
    assert settings.media_dir == own / "media"
    named = Settings.without_env_file(data_dir=own, shared_dir=str(shared), telegram_exports_dir=str(tmp_path / "x"))
    assert named.exports_dir == tmp_path / "x"  # LONGRUN_TELEGRAM_EXPORTS_DIR still wins


def test_an_avatar_is_found_under_the_avatars_dir_wherever_it_is_mounted_and_never_outside(tmp_path):
    avatars, old = tmp_path / "shared" / "avatars", tmp_path / "old-host" / "avatars"
    avatars.mkdir(parents=True)
    (avatars / "42-abc.jpg").write_bytes(JPEG_START)
    (tmp_path / "secret.jpg").write_bytes(JPEG_START)
    os.symlink(tmp_path / "secret.jpg", avatars / "link-out.jpg")
    assert _avatar_file("42-abc.jpg", avatars) == (avatars / "42-abc.jpg").resolve()
    # A row from before holds the absolute path on the worker that fetched it: found by its name once moved here.
    assert _avatar_file(str(old / "42-abc.jpg"), avatars) == (avatars / "42-abc.jpg").resolve()
    for outside in ("../secret.jpg", str(tmp_path / "secret.jpg"), "link-out.jpg", "/etc/passwd", "missing.jpg"):
        assert _avatar_file(outside, avatars) is None, outside


@pytest.fixture(scope="module")
async def hosts(stack):
    """The API and the worker on a database and Temporal of their own (no other deployment drains their inbox),
    each with its own data directory, the shared one beside them."""
    dirs = {name: stack.data_dir / f"shared-files-{name}" for name in ("api", "worker", "shared")}
    for folder in dirs.values():
        folder.mkdir()
    async with isolated(stack, "shared_files") as own:
        env = {
            **own.env,
            **FAST_MAX,
            "LONGRUN_SHARED_DIR": str(dirs["shared"]),
            "LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        url = stack.start_api("api-shared-files", task_queue=QUEUE, env=env, LONGRUN_DATA_DIR=str(dirs["api"]))
        stack.start_worker("worker-shared-files", task_queue=QUEUE, env=env, LONGRUN_DATA_DIR=str(dirs["worker"]))
        api = await Api.login(url, "admin", ADMIN_PASSWORD)
        api.url = url
        try:
            yield api, own, dirs
        finally:
            await api.close()
            stack.stop_named("api-shared-files", "worker-shared-files")


@pytest.fixture
async def fast_max(max_emulator):
    await max_emulator.control("POST", "/_emulator/max/config", **FAST_MAX_EMULATOR)
    return max_emulator


async def test_an_export_the_api_checked_is_read_and_migrated_by_a_worker_on_another_host(hosts, stack, fast_max):
    api, _, dirs = hosts
    chat, max_chat = "gen_60_s12", 7_000 + unique()
    export = export_of(chat, dirs["shared"] / "exports")
    link = await make_link(api, chat=chat, max_chat=max_chat, token=f"bot-{unique()}", export_path=export)
    job = await migrate(api, link["id"])
    assert job["status"] == "completed", job
    assert await in_max(fast_max, max_chat) == await expected_in_max(stack.telegram_url, chat)
    assert not (dirs["api"] / "exports").exists() and not (dirs["worker"] / "exports").exists()


def _gone(export: Path, _: Path) -> None:
    shutil.rmtree(export)


def _swapped_for_a_link_out(export: Path, outside: Path) -> None:
    shutil.rmtree(export)
    os.symlink(outside, export)


@pytest.mark.parametrize(
    ("change", "says"),
    [(_gone, "does not exist"), (_swapped_for_a_link_out, "leads out of the exports directory")],
)
async def test_an_export_changed_after_the_api_checked_it_fails_the_job_at_once_and_sends_nothing(
    hosts, stack, fast_max, change, says
):
    api, _, dirs = hosts
    chat, max_chat = "gen_60_s12", 7_000 + unique()
    export = export_of(chat, dirs["shared"] / "exports")
    outside = export_of(chat, stack.data_dir / "shared-files-outside")  # a good export, where exports may not be
    link = await make_link(api, chat=chat, max_chat=max_chat, token=f"bot-{unique()}", export_path=export)
    change(export, outside)

    job = await migrate(api, link["id"])
    assert job["status"] == "failed", job
    # Named as stored under the exports directory, never by this host's absolute path; and final, not retried.
    assert job["message"].endswith(f": directory {export.name} {says}"), job
    assert job["result"]["error"] == job["message"]
    assert str(dirs["shared"]) not in str(job)
    assert await in_max(fast_max, max_chat) == []


async def test_an_avatar_a_worker_fetched_is_served_by_the_api_on_another_host(hosts, telegram_bot):
    api, own, dirs = hosts
    await hook(telegram_bot, api.url)
    chat, update_id = new_ids()
    pictured = await user_with_photo(telegram_bot)
    await telegram_bot.deliver([{"update_id": update_id, "message": message(chat, 1, author(pictured, "Олена"), "hi")}])
    profile_id = (await stored_message(own.database, chat, 1, scored=False))["user_profile_id"]

    stored = await avatar_checked(own.database, profile_id)
    assert stored and (dirs["shared"] / "avatars" / stored).is_file()
    response = await api.http.get(f"/api/v1/profiles/{profile_id}/avatar")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg" and response.content.startswith(JPEG_START)
