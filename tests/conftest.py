import os
import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from devstack.clients import Api, OneCEmulator, TelegramBotEmulator
from devstack.stack import ADMIN_PASSWORD, Stack, start_stack
from runtime.temporal import connect
from settings import Settings
from tests.support.emulators import clean_emulator
from tests.support.users import users_of

LAST = "test_history_secrets.py"

# The tests' own clients talk to the session's dev server, whatever Temporal a developer's TEMPORAL_* variables or
# Temporal Cloud profile name (the stack's processes are told the same by devstack); tests of that turn it back on.
os.environ.setdefault("LONGRUN_TEMPORAL_ENVCONFIG", "false")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The history scan reads what every other test left in Temporal, so it runs after all of them."""
    last = [item for item in items if item.path.name == LAST]
    items[:] = [item for item in items if item.path.name != LAST] + last


@pytest.fixture(scope="session")
def stack() -> Stack:
    # Not pytest's tmp_path: Postgres runs as the `pgserver` user, which can't enter its 0700 folders.
    data_dir = Path(tempfile.mkdtemp(prefix="longrun-test-"))
    data_dir.chmod(0o755)
    stack = start_stack(data_dir)
    try:
        stack.start_worker()
        stack.api_url = stack.start_api()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def database(stack: Stack) -> AsyncEngine:
    engine = stack.database()
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def temporal(stack: Stack) -> Client:
    return await connect(Settings(temporal_address=stack.temporal_address))


@pytest.fixture(scope="session")
async def admin(stack: Stack) -> Api:
    api = await Api.login(stack.api_url, "admin", ADMIN_PASSWORD)
    yield api
    await api.close()


@pytest.fixture
async def make_user(admin: Api):
    """Create a fresh user with a role and return an Api logged in as them."""
    async with users_of(admin) as make:
        yield make


@pytest.fixture
async def llm(stack: Stack):
    async for emulator in clean_emulator(stack.openai_url):
        yield emulator


@pytest.fixture
async def feeds(stack: Stack):
    async for emulator in clean_emulator(stack.feeds_url):
        yield emulator


@pytest.fixture
async def onec(stack: Stack):
    """The stack's 1C emulator: default book, live session, no faults; its book and faults scriptable."""
    async for emulator in clean_emulator(stack.onec_url, OneCEmulator):
        yield emulator


@pytest.fixture
async def max_emulator(stack: Stack):
    async for emulator in clean_emulator(stack.max_url):
        yield emulator


@pytest.fixture
async def telegram(stack: Stack):
    async for emulator in clean_emulator(stack.telegram_url):
        yield emulator


@pytest.fixture
async def telegram_bot(stack: Stack):
    """The stack's Telegram Bot API emulator: no bots, webhooks or faults (emulators/telegram_bot.py)."""
    async for emulator in clean_emulator(stack.telegram_bot_url, TelegramBotEmulator):
        yield emulator
