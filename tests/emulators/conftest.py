"""Each emulator runs as a real subprocess, started as the dev stack starts it (`devstack/processes.py`).

Every emulator has a session-wide `<name>_server` (its base URL) and a per-test `<name>_url`: the same URL once the
emulator has been reset (no fault rules, zeroed stats, its own state back to its start).
"""

import os
from collections.abc import Iterator

import httpx
import pytest

from devstack import processes as ps
from tests.support.emulators import ONEC_CREDENTIALS


def _run(module: str, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str] | None = None) -> Iterator[str]:
    name = module.rsplit(".", 1)[-1]
    environment = {**os.environ, **env} if env else None
    proc = ps.start_emulator(name, module, ps.free_port(), environment, tmp_path_factory.mktemp(name))
    try:
        yield f"http://{ps.HOST}:{proc.port}"
    finally:
        proc.stop()


def _reset(base_url: str) -> str:
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()
    return base_url


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.openai_compat", tmp_path_factory)


@pytest.fixture(scope="session")
def feeds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.feeds", tmp_path_factory)


@pytest.fixture(scope="session")
def onec_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.onec", tmp_path_factory, ONEC_CREDENTIALS)


@pytest.fixture(scope="session")
def telegram_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.telegram", tmp_path_factory)


@pytest.fixture(scope="session")
def max_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.max", tmp_path_factory)


@pytest.fixture(scope="session")
def telegram_bot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _run("emulators.telegram_bot", tmp_path_factory)


@pytest.fixture
def openai_url(openai_server: str) -> str:
    return _reset(openai_server)


@pytest.fixture
def feeds_url(feeds_server: str) -> str:
    return _reset(feeds_server)


@pytest.fixture
def onec_url(onec_server: str) -> str:
    """The 1C emulator with its default book and a live session."""
    return _reset(onec_server)


@pytest.fixture
def telegram_url(telegram_server: str) -> str:
    return _reset(telegram_server)


@pytest.fixture
def max_url(max_server: str) -> str:
    """The MAX emulator with no bots, chats or messages and its default knobs."""
    return _reset(max_server)


@pytest.fixture
def telegram_bot_url(telegram_bot_server: str) -> str:
    """The Telegram Bot API emulator with no bots or webhooks and its default delivery knobs."""
    return _reset(telegram_bot_server)
