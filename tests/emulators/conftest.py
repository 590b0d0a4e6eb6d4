"""Each emulator runs as a real subprocess started by its command line, as the dev stack starts it."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_DEADLINE_S = 15.0
# Cyrillic on purpose: 1C users usually have Russian names, and Basic auth must carry them as UTF-8.
ONEC_USER, ONEC_PASSWORD = "Бухгалтер", "пароль:с двоеточием"
ONEC_CREDENTIALS = {"LONGRUN_ONEC_USER": ONEC_USER, "LONGRUN_ONEC_PASSWORD": ONEC_PASSWORD}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(process: subprocess.Popen, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"emulator exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(f"{base_url}/_emulator/stats", timeout=1.0).raise_for_status()
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"emulator not ready after {READY_DEADLINE_S}s:\n{log.read_text()}")


def _run(module: str, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str] | None = None) -> Iterator[str]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp(module) / "server.log"
    with log.open("wb") as sink:
        command = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)]
        environment = {**os.environ, **env} if env else None
        process = subprocess.Popen(command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env=environment)
    try:
        _wait_ready(process, base_url, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.openai_compat", tmp_path_factory)


@pytest.fixture(scope="session")
def feeds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.feeds", tmp_path_factory)


@pytest.fixture(scope="session")
def onec_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.onec", tmp_path_factory, ONEC_CREDENTIALS)


@pytest.fixture
def openai_url(openai_server: str) -> str:
    """Base URL of the OpenAI emulator, with no fault rules and zeroed stats."""
    httpx.post(f"{openai_server}/_emulator/reset").raise_for_status()
    return openai_server


@pytest.fixture
def feeds_url(feeds_server: str) -> str:
    """Base URL of the feeds emulator, with no fault rules and zeroed stats."""
    httpx.post(f"{feeds_server}/_emulator/reset").raise_for_status()
    return feeds_server


@pytest.fixture(scope="session")
def telegram_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.telegram", tmp_path_factory)


@pytest.fixture
def telegram_url(telegram_server: str) -> str:
    """Base URL of the Telegram stand-in, with no fault rules and zeroed stats."""
    httpx.post(f"{telegram_server}/_emulator/reset").raise_for_status()
    return telegram_server


@pytest.fixture
def onec_url(onec_server: str) -> str:
    """Base URL of the 1C emulator, with its default book, a live session, no fault rules and zeroed stats."""
    httpx.post(f"{onec_server}/_emulator/reset").raise_for_status()
    return onec_server


@pytest.fixture(scope="session")
def max_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.max", tmp_path_factory)


@pytest.fixture
def max_url(max_server: str) -> str:
    """Base URL of the MAX emulator: no faults, no bots, chats or messages, default knobs."""
    httpx.post(f"{max_server}/_emulator/reset").raise_for_status()
    return max_server


@pytest.fixture(scope="session")
def telegram_bot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.telegram_bot", tmp_path_factory)


@pytest.fixture
def telegram_bot_url(telegram_bot_server: str) -> str:
    """Base URL of the Telegram Bot API emulator: no bots, webhooks or faults, default delivery knobs."""
    httpx.post(f"{telegram_bot_server}/_emulator/reset").raise_for_status()
    return telegram_bot_server
