"""`make up` itself (python -m devstack up): the whole stack from one command, and a job that was running
when the stack stopped finishes after the next start, on the data it kept."""

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path

import httpx
import pytest

from devstack import processes as ps
from devstack.clients import Api, eventually
from tests.support.news import discover

PASSWORD = "make-up-password"


def free_ports() -> dict[str, int]:
    """A free port for each of `up`'s --<name>-port options."""
    names = ("temporal", "ui", "openai", "feeds", "telegram", "max", "onec", "api", "metrics", "telegram-bot")
    return {name: ps.free_port() for name in names}


def start_up(data_dir: Path, ports: dict[str, int], log_dir: Path, name: str) -> ps.Proc:
    args = ["-m", "devstack", "up", "--data-dir", str(data_dir)]
    for option, port in ports.items():
        args += [f"--{option}-port", str(port)]
    env = {**os.environ, "LONGRUN_ADMIN_PASSWORD": PASSWORD}
    for variable in (
        "LONGRUN_DATABASE_URL", "LONGRUN_TEMPORAL_ADDRESS", "OPENAI_API_KEY", "OPENAI_BASE_URL",
        "LONGRUN_TELEGRAM_SESSION", "LONGRUN_TELEGRAM_EMULATOR_URL",
        "LONGRUN_DATABASE_URL", "LONGRUN_TEMPORAL_ADDRESS", "OPENAI_API_KEY", "OPENAI_BASE_URL", "LONGRUN_MAX_API_URL",
        "LONGRUN_TELEGRAM_BOT_API_URL", "LONGRUN_TELEGRAM_WEBHOOK_SECRET", "LONGRUN_TELEGRAM_WEBHOOK_URL",
    ):  # fmt: skip
        env.pop(variable, None)
    up = ps.start_python(name, args, env, log_dir)
    login = {"username": "admin", "password": PASSWORD}

    def ready() -> bool:
        # Up for a person: the stack file is written and bootstrap has made the admin.
        up.check_alive()
        if not (data_dir / "stack.json").exists():
            return False
        try:
            return httpx.post(f"http://{ps.HOST}:{ports['api']}/api/login/", json=login).status_code == 200
        except httpx.HTTPError:
            return False

    ps.wait_until(ready, 120, f"{name} to be up", interval=0.25)
    return up


@pytest.fixture
def up_dirs():
    root = Path(tempfile.mkdtemp(prefix="longrun-up-"))
    root.chmod(0o755)
    yield root / "data", root / "logs"
    shutil.rmtree(root, ignore_errors=True)


async def a_bot_update_reaches_the_tracker(admin: Api, bot_port: int) -> None:
    """Bootstrap registered the webhook with the Bot API (emulator) and its secret: Telegram's delivery is taken."""
    update = {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "from": {"id": 42, "is_bot": False, "first_name": "Ops"},
            "chat": {"id": -100500, "type": "supergroup", "title": "ops"},
            "date": 1_790_000_000,
            "text": "the staging database ran out of disk, who can expand the volume today?",
        },
    }
    async with httpx.AsyncClient(base_url=f"http://{ps.HOST}:{bot_port}") as bot:
        (await bot.post("/_emulator/telegram_bot/deliver", json={"updates": [update]})).raise_for_status()

    async def scored():
        page = await admin.ok("GET", "/api/v1/messages", params={"chat": -100500})
        return page["items"] if page["items"] and page["items"][0]["importance_score"] is not None else None

    (message,) = await eventually(scored, "the delivered update to be saved and scored", within=60)
    assert message["telegram_message_id"] == 7


async def test_running_job_survives_a_stack_restart(up_dirs):
    data_dir, log_dir = up_dirs
    ports = free_ports()
    api_url = f"http://{ps.HOST}:{ports['api']}"
    up = start_up(data_dir, ports, log_dir, "up-1")
    try:
        stack = json.loads((data_dir / "stack.json").read_text())
        emulators = {"telegram_emulator", "max_emulator", "onec_emulator", "telegram_bot_emulator"}
        assert {"postgres", "temporal", "worker", "api", *emulators} <= set(stack["processes"])
        assert stack["env"]["LONGRUN_TELEGRAM_EMULATOR_URL"] == f"http://{ps.HOST}:{ports['telegram']}"
        # Workers are pointed at this stack's 1C emulator, on whatever port it was given.
        assert stack["urls"]["onec"] == f"http://{ps.HOST}:{ports['onec']}"
        assert stack["env"]["LONGRUN_TELEGRAM_BOT_API_URL"] == f"http://{ps.HOST}:{ports['telegram-bot']}"
        # The Web UI decodes the encrypted payloads through this API's codec endpoint, at its own key's path.
        temporal_args = stack["processes"]["temporal"]["cmdline"]
        codec = temporal_args[temporal_args.index("--ui-codec-endpoint") + 1]
        assert codec.startswith(f"http://{ps.HOST}:{ports['api']}/api/v1/codec/web-ui/")
        async with httpx.AsyncClient() as browser:
            assert (await browser.post(f"{codec}/decode", json={"payloads": []})).json() == {"payloads": []}
        admin = await Api.login(api_url, "admin", PASSWORD)
        sources = (await admin.ok("GET", "/api/v1/news/sources"))[:3]
        assert len(sources) == 3, "bootstrap seeds demo sources"
        # The dashboard links jobs to this stack's own Web UI, on whatever port it was given.
        config = await admin.ok("GET", "/api/v1/config")
        assert config["temporal_ui_url"] == f"http://{ps.HOST}:{ports['ui']}"
        async with httpx.AsyncClient(base_url=f"http://{ps.HOST}:{ports['openai']}") as emulator:
            fault = {"path": "/v1/chat/completions", "kind": "latency", "latency_ms": 1500}
            (await emulator.post("/_emulator/faults", json=fault)).raise_for_status()
        await a_bot_update_reaches_the_tracker(admin, ports["telegram-bot"])
        job_id = await discover(admin, sources, max_parallel=1)
        await eventually(lambda: _processed(admin, job_id), "the first source to finish", within=60)
        await admin.close()
    finally:
        print(up.log_tail(80))  # shown by pytest only when the test fails
        up.popen.send_signal(signal.SIGINT)  # Ctrl-C
        up.wait(60)
    assert json.loads((data_dir / "stack.json").read_text())["stopped_at"]

    up = start_up(data_dir, ports, log_dir, "up-2")
    try:
        admin = await Api.login(api_url, "admin", PASSWORD)
        snap = await admin.wait_job(job_id, within=120)
        assert (snap["status"], snap["processed"], snap["succeeded"]) == ("completed", 3, 3)
        assert snap["result"]["drafts_created"] > 0
        await admin.close()
    finally:
        print(up.log_tail(80))
        up.popen.send_signal(signal.SIGINT)
        up.wait(60)


def restarted(up: ps.Proc, data_dir: Path, name: str) -> int:
    """Kill `name` with -9 and wait until `up` has said it restarted it; the new pid, from the stack file."""
    pid = json.loads((data_dir / "stack.json").read_text())["processes"][name]["pid"]
    os.kill(pid, signal.SIGKILL)

    def new_pid() -> int | None:
        up.check_alive()
        if f"{name} restarted in" not in up.log_tail(400):
            return None
        now = json.loads((data_dir / "stack.json").read_text())["processes"][name]["pid"]
        return now if now != pid else None

    return ps.wait_until(new_pid, 90, f"up to restart {name}", interval=0.1)


async def test_up_restarts_a_dependency_that_dies(up_dirs):
    """A dead Temporal, Postgres, emulator or API is started again on its kept data; the stack stays usable."""
    data_dir, log_dir = up_dirs
    ports = free_ports()
    api_url = f"http://{ps.HOST}:{ports['api']}"
    up = start_up(data_dir, ports, log_dir, "up-restarts")
    try:
        api_pid = json.loads((data_dir / "stack.json").read_text())["processes"]["api"]["pid"]
        restarted(up, data_dir, "temporal")
        restarted(up, data_dir, "postgres")
        assert json.loads((data_dir / "stack.json").read_text())["processes"]["api"]["pid"] == api_pid, (
            "the API outlives its dependencies"
        )
        restarted(up, data_dir, "telegram_bot_emulator")
        restarted(up, data_dir, "api")
        assert up.alive()
        assert ps.http_status(f"{api_url}/api/v1/health") == 200

        admin = await Api.login(api_url, "admin", PASSWORD)  # the users bootstrap made are still there
        # The new Bot API emulator knew no webhook; up registered the tracker's again.
        await a_bot_update_reaches_the_tracker(admin, ports["telegram-bot"])
        sources = (await admin.ok("GET", "/api/v1/news/sources"))[:2]
        job_id = await discover(admin, sources, max_parallel=2)
        snap = await admin.wait_job(job_id, within=120)
        assert (snap["status"], snap["succeeded"]) == ("completed", 2), "the worker works on the new Temporal"
        await admin.close()
    finally:
        print(up.log_tail(120))
        up.popen.send_signal(signal.SIGINT)
        up.wait(60)
    assert "stopped postgres" in up.log_tail(40)


async def _processed(api: Api, job_id: str) -> bool:
    snap = await api.job(job_id)
    return 1 <= snap["processed"] < 3
