"""The tracker's tests' shared pieces: messages seeded straight into Postgres, an analysis run's events off the
socket, and every NOTIFY the workers send as Postgres delivers it."""

import itertools
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text

from db.events import CHANNEL
from tests.support.events import receive

_message_ids = itertools.count(1)
TERMINAL_EVENTS = {"analysis.run_completed", "analysis.run_failed", "experiment_completed", "experiment_failed"}


def unique_word() -> str:
    return "zq" + uuid.uuid4().hex[:8]


def window() -> tuple[datetime, datetime]:
    """A day of its own in the past: no other test's messages fall in it."""
    start = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(days=random.randrange(100_000))
    return start, start + timedelta(days=1)


async def seed_messages(database, chat_id: int, start: datetime, texts: list[str], topic_ids=None) -> list[int]:
    """Messages of one chat, a minute apart from `start`, in order; their ids."""
    ids = []
    async with database.begin() as conn:
        for n, body in enumerate(texts):
            ids.append(
                await conn.scalar(
                    text(
                        "INSERT INTO message (telegram_chat_id, telegram_message_id, text, sent_at, source, "
                        "topic_id, created_at) VALUES (:chat, :mid, :text, :sent, 'ingestion', :topic, now()) "
                        "RETURNING id"
                    ),
                    {
                        "chat": chat_id,
                        "mid": next(_message_ids),
                        "text": body,
                        "sent": start + timedelta(minutes=n),
                        "topic": topic_ids[n] if topic_ids else None,
                    },
                )
            )
    return ids


async def job_events(ws, job_id: str) -> list[dict]:
    """This job's events from the socket, up to and including its last one."""
    got = []
    while True:
        event = await receive(ws)
        if event.get("job_id") != job_id:
            continue
        got.append(event)
        if event["type"] in TERMINAL_EVENTS:
            return got


async def ensure_extractor(database) -> None:
    """An active knowledge_extractor agent config (the stack's bootstrap makes one; a test may have switched it)."""
    async with database.begin() as conn:
        if await conn.scalar(text("SELECT count(*) FROM agent_config WHERE role = 'knowledge_extractor' AND active")):
            return
        await conn.execute(
            text(
                "INSERT INTO agent_config (name, role, model, system_prompt, active, created_at, updated_at) "
                "VALUES (:name, 'knowledge_extractor', '', 'Extract topics and atoms.', true, now(), now())"
            ),
            {"name": f"extractor-{random.randrange(10**9)}"},
        )


def run_messages(word: str) -> list[str]:
    """Five messages: three the prefilter keeps (a mention, task words), two it drops (too short, no ask)."""
    return [
        f"@devops_lead please fix the {word} billing export before Friday",
        "ok",
        f"The {word} billing export crashed again this morning, we need a fix",
        "Lunch was great today with the whole team, see you",
        f"Can you review the {word} invoice totals for March",
    ]


class RawEvents:
    """Every NOTIFY the workers send, straight from Postgres: the API drops a number it already delivered, so only
    here would a retried step that announced a page twice show."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._conn = None

    async def listen(self, database) -> "RawEvents":
        dsn = database.url.render_as_string(hide_password=False).replace("+asyncpg", "")
        self._conn = await asyncpg.connect(dsn)
        await self._conn.add_listener(CHANNEL, lambda *args: self.payloads.append(json.loads(args[-1])))
        return self

    def of(self, job_id: str) -> list[int]:
        return [p["seq"] for p in self.payloads if p["job_id"] == job_id]

    async def close(self) -> None:
        await self._conn.close()


# The webhook's secret in the tests' deployments, and one Telegram update as the Bot API delivers it.
SECRET = "tracker-test-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEADERS = {SECRET_HEADER: SECRET}


def update(update_id: int, chat_id: int, message_id: int, user_id: int, words: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}", "username": f"u{user_id}"},
            "chat": {"id": chat_id, "type": "supergroup", "title": "team"},
            "date": int(time.time()),
            "text": f"{words} report number {message_id} from user {user_id} needs a decision today",
        },
    }
