"""The test stack runs the Telegram stand-in like its other emulators and points its processes at it."""

from clients.telegram import PyrogramSource
from devstack.clients import Emulator
from devstack.stack import Stack
from settings import Settings


async def test_the_stack_points_its_processes_at_its_telegram_stand_in(stack: Stack, telegram: Emulator) -> None:
    env = stack.env()
    settings = Settings(telegram_emulator_url=env["LONGRUN_TELEGRAM_EMULATOR_URL"], _env_file=None)

    async with PyrogramSource.from_settings(settings, "@bench_250") as source:
        count = await source.count()

    assert env["LONGRUN_TELEGRAM_EMULATOR_URL"] == stack.telegram_url
    assert "LONGRUN_TELEGRAM_SESSION" not in env
    assert count == 250
    assert await telegram.requests("/rpc/messages.GetHistory") == 1
