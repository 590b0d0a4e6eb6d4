"""The Telegram stand-in as a process of its own, started as the dev stack starts it, shared by these tests."""

from collections.abc import AsyncIterator, Iterator

import pytest

from devstack import processes as ps
from devstack.clients import Emulator
from settings import Settings
from tests.support.emulators import clean_emulator


@pytest.fixture(scope="session")
def telegram_stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("telegram-stand-in")
    proc = ps.start_emulator("telegram", "emulators.telegram", ps.free_port(), None, logs)
    try:
        yield f"http://{ps.HOST}:{proc.port}"
    finally:
        proc.stop()


@pytest.fixture
async def stand_in(telegram_stand_in: str) -> AsyncIterator[Emulator]:
    """This stand-in with no fault rules and zeroed counts, for one test (`telegram` is the test stack's own)."""
    async for emulator in clean_emulator(telegram_stand_in):
        yield emulator


@pytest.fixture
def settings(telegram_stand_in: str) -> Settings:
    # request_retries=2: a test that outlasts pyrogram's own retries does not wait through ten of them.
    return Settings(telegram_emulator_url=telegram_stand_in, telegram_request_retries=2, _env_file=None)
