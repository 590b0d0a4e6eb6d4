"""The stack starts the Telegram Bot API emulator and points its processes at it, unless a real Bot API is set."""

import httpx

from devstack.clients import eventually
from devstack.processes import stack_env
from settings import Settings


def test_stack_env_points_at_the_emulator_unless_another_host_is_set(tmp_path):
    common = {"database_url": "postgresql+asyncpg://x", "temporal_address": "127.0.0.1:7300", "data_dir": tmp_path}
    env = stack_env(**common, telegram_bot_port=8306, base={})
    assert env["LONGRUN_TELEGRAM_BOT_API_URL"] == "http://127.0.0.1:8306"
    real = {"LONGRUN_TELEGRAM_BOT_API_URL": "https://api.telegram.org"}
    assert (
        stack_env(**common, telegram_bot_port=8306, base=real)["LONGRUN_TELEGRAM_BOT_API_URL"]
        == real["LONGRUN_TELEGRAM_BOT_API_URL"]
    )


async def test_the_stacks_processes_reach_the_bot_api_with_their_token(stack, telegram_bot):
    env = stack.env()
    settings = Settings(_env_file=None, **{"telegram_bot_api_url": env["LONGRUN_TELEGRAM_BOT_API_URL"]})
    token = settings.telegram_bot_token.get_secret_value()
    async with httpx.AsyncClient(base_url=settings.telegram_bot_api_url) as http:
        me = (await http.get(f"/bot{token}/getMe")).json()
    assert me["ok"] and me["result"]["id"] == int(token.split(":")[0])
    assert settings.telegram_bot_api_url == stack.telegram_bot_url == telegram_bot.base_url


async def test_the_emulator_client_drives_a_webhook_that_is_down(telegram_bot):
    token = Settings(_env_file=None).telegram_bot_token.get_secret_value()
    await telegram_bot.configure(retry_initial_seconds=0.01, max_attempts=2)
    await telegram_bot.set_webhook(token, "http://127.0.0.1:9/webhook/telegram", secret_token="s")
    updates = await telegram_bot.updates(3, seed=1)
    await telegram_bot.deliver(updates, repeat=[updates[0]["update_id"]])

    async def settled():
        report = await telegram_bot.deliveries()
        return report if report["pending"] == 0 else None

    report = await eventually(settled, "the deliveries to be given up", within=30)
    assert sorted(report["gave_up"]) == [u["update_id"] for u in updates] and len(report["attempts"]) == 6
    assert (await telegram_bot.call(token, "getWebhookInfo"))["last_error_message"].startswith("Connection failed")
