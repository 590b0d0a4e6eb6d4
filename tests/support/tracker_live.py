"""Telegram's side of the tracker's webhook for tests that watch messages arrive: an API process that takes the
webhook (it needs a secret), the Bot API emulator pointed at it, and updates written as Telegram writes them."""

import random
import time
from contextlib import contextmanager
from typing import Any

from sqlalchemy import text

from devstack.clients import TelegramBotEmulator, eventually
from devstack.stack import Stack

SECRET = "tracker-screen-secret"
# The stack's workers fetch avatars with this token (settings.telegram_bot_token); the emulator answers any bot alike.
TOKEN = "1000000001:longrun-emulator-bot-token"


@contextmanager
def webhook_api(stack: Stack, name: str):
    """A second API process of the stack that takes the webhook; its events reach every API process alike."""
    with stack.running_api(name, LONGRUN_TELEGRAM_WEBHOOK_SECRET=SECRET) as url:
        yield url


async def hook(telegram_bot: TelegramBotEmulator, webhook_url: str) -> None:
    await telegram_bot.set_webhook(TOKEN, f"{webhook_url}/webhook/telegram", secret_token=SECRET)


def author(user_id: int, first_name: str, username: str | None = None, last_name: str | None = None) -> dict:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        user["username"] = username
    if last_name:
        user["last_name"] = last_name
    return user


def message(chat_id: int, message_id: int, sender: dict, words: str, date: int | None = None, **extra) -> dict:
    return {
        "message_id": message_id,
        "from": sender,
        "chat": {"id": chat_id, "type": "supergroup", "title": "team"},
        "date": date or int(time.time()),
        "text": words,
        **extra,
    }


def new_ids() -> tuple[int, int]:
    """A chat and a first update id no other test uses."""
    return -random.randrange(10**9, 10**12), random.randrange(10**9, 10**12)


async def user_with_photo(telegram_bot: TelegramBotEmulator, has_photo: bool = True) -> int:
    """A Telegram user id the emulator shows a profile photo for (or, with has_photo=False, none)."""
    for _ in range(200):
        user_id = random.randrange(10**6, 10**9)
        found = await telegram_bot.control("GET", f"/_emulator/telegram_bot/users/{user_id}")
        if (found["photo_count"] > 0) == has_photo:
            return user_id
    raise AssertionError("the emulator gave no such user in 200 tries")


async def stored_message(database, chat_id: int, message_id: int, scored: bool = True) -> dict:
    """The saved message's row (id, profile), once the inbox has saved (and scored) it."""

    async def found():
        async with database.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT id, user_profile_id, scored_at FROM message "
                        "WHERE telegram_chat_id = :c AND telegram_message_id = :m"
                    ),
                    {"c": chat_id, "m": message_id},
                )
            ).one_or_none()
        return row._asdict() if row is not None and (row.scored_at is not None or not scored) else None

    return await eventually(found, f"message {chat_id}/{message_id} saved", within=60, interval=0.1)


async def avatar_checked(database, profile_id: int) -> str | None:
    """The profile's avatar path once the workers have looked for it (None: the user shows no photo)."""

    async def checked():
        async with database.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT avatar_path, avatar_checked_at FROM user_profile WHERE id = :id"), {"id": profile_id}
                )
            ).one()
        return row if row.avatar_checked_at is not None else None

    return (await eventually(checked, f"profile {profile_id}'s avatar looked for", within=60, interval=0.2)).avatar_path
