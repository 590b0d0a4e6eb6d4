"""Edits of Telegram messages on the real stack, through the webhook and the inbox drainer: an `edited_message` (or
`edited_channel_post`) changes the saved text, scores it again, drops its stale vector and says `message.updated`;
a redelivery changes nothing twice, an older edit never overwrites a newer one, and an edit of a message never seen
saves it."""

import random
import time
from contextlib import AsyncExitStack

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from db import tracker_embeddings
from db.tracker_embeddings import EmbedKind
from devstack.clients import eventually
from tests.support.events import open_stream, receive

SECRET = "tracker-edits-secret"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
TASK_TEXT = "@devops_lead please fix the invoice export before Friday: contracts signed before 2023 fail to export"


@pytest.fixture(scope="module")
def webhook_url(stack):
    with stack.running_api("api-tracker-edits", LONGRUN_TELEGRAM_WEBHOOK_SECRET=SECRET) as url:
        yield url


@pytest.fixture
async def webhook(webhook_url):
    async with httpx.AsyncClient(base_url=webhook_url, timeout=30) as http:
        yield http


def message(chat_id: int, message_id: int, words: str, date: int, edit_date: int | None = None) -> dict:
    body = {
        "message_id": message_id,
        "from": {"id": 700_001, "is_bot": False, "first_name": "Olena", "username": "olena"},
        "chat": {"id": chat_id, "type": "supergroup", "title": "team"},
        "date": date,
        "text": words,
    }
    if edit_date is not None:
        body["edit_date"] = edit_date
    return body


async def deliver(webhook, update_id: int, **kind: dict) -> None:
    response = await webhook.post("/webhook/telegram", json={"update_id": update_id, **kind}, headers=HEADERS)
    assert response.status_code == 200, response.text


async def row(database, chat_id: int, message_id: int):
    async with database.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT id, text, importance_score, noise_class, scored_at, embedding IS NOT NULL AS embedded, "
                    "edited_at FROM message WHERE telegram_chat_id = :c AND telegram_message_id = :m"
                ),
                {"c": chat_id, "m": message_id},
            )
        ).one_or_none()


async def saved(database, chat_id: int, message_id: int, scored: bool = True):
    async def found():
        r = await row(database, chat_id, message_id)
        return r if r is not None and (r.scored_at is not None or not scored) else None

    return await eventually(found, f"message {chat_id}/{message_id} saved", within=60, interval=0.1)


async def drained(webhook, database, chat_id: int, update_id: int, message_id: int) -> None:
    """A new message delivered after the updates under test, and saved: the inbox is taken oldest first, so every
    update delivered before it has been dealt with by then."""
    await deliver(webhook, update_id, message=message(chat_id, message_id, "sentinel", int(time.time())))
    await saved(database, chat_id, message_id)


async def events_of(ws, message_id: int, until: int) -> list[dict]:
    """The socket's message events about `message_id`, up to `until`'s score (a take announces every message it
    saved, then every score)."""
    got = []
    while True:
        event = await receive(ws)
        data = event.get("data") or {}
        if data.get("message_id") == message_id:
            got.append(event)
        if event["type"] == "message_scored" and data.get("message_id") == until:
            return got


async def test_an_edit_changes_the_text_scores_it_again_drops_its_vector_and_is_announced(
    webhook, webhook_url, database, admin
):
    chat, base = -random.randrange(10**9, 10**12), random.randrange(10**9, 10**12)
    sent = int(time.time()) - 600
    await deliver(webhook, base, message=message(chat, 1, "ok", sent))
    before = await saved(database, chat, 1)
    assert before.noise_class == "noise" and before.edited_at is None
    # As if the embedding sweep had embedded the first text.
    async with database.begin() as conn:
        await conn.execute(
            text("UPDATE message SET embedding = array_fill(0.1, ARRAY[1536])::vector WHERE id = :i"), {"i": before.id}
        )

    async with AsyncExitStack() as sockets:
        ws = await open_stream(sockets, webhook_url, admin.token)
        await deliver(webhook, base + 1, edited_message=message(chat, 1, TASK_TEXT, sent, edit_date=sent + 60))
        # Telegram delivers it again (its answer was lost): the inbox keeps one row, the message changes once.
        await deliver(webhook, base + 1, edited_message=message(chat, 1, TASK_TEXT, sent, edit_date=sent + 60))
        # An edit made before that one, delivered late: it must not bring the older text back.
        await deliver(webhook, base + 2, edited_message=message(chat, 1, "ok, will do", sent, edit_date=sent + 30))
        await drained(webhook, database, chat, base + 3, 2)
        sentinel = await row(database, chat, 2)
        events = await events_of(ws, before.id, until=sentinel.id)

    after = await row(database, chat, 1)
    assert after.id == before.id and after.text == TASK_TEXT
    assert after.edited_at.timestamp() == sent + 60
    assert after.noise_class != "noise" and after.importance_score != before.importance_score
    assert after.scored_at > before.scored_at
    assert not after.embedded  # the vector of "ok" is gone; the embedding sweep embeds the new text
    edits = [e for e in events if e["type"] == "message.updated"]
    assert [e["data"] for e in edits] == [
        {"message_id": before.id, "chat_id": chat, "edited_at": after.edited_at.isoformat()}
    ]
    scored = [e["data"] for e in events if e["type"] == "message_scored"]
    assert [(s["message_id"], s["noise_class"]) for s in scored] == [(before.id, after.noise_class)]
    async with database.connect() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM telegram_update WHERE update_id = ANY(:u) AND saved_at IS NOT NULL"),
            {"u": [base + 1, base + 2]},
        )
    assert stored == 2
    read = await admin.ok("GET", f"/api/v1/messages/{before.id}")
    assert (read["text"], read["edited_at"] is not None) == (TASK_TEXT, True)


async def test_an_edit_of_a_message_never_seen_saves_it_and_its_late_original_changes_nothing(webhook, database):
    chat, base = -random.randrange(10**9, 10**12), random.randrange(10**9, 10**12)
    sent = int(time.time()) - 600
    await deliver(webhook, base + 1, edited_message=message(chat, 5, TASK_TEXT, sent, edit_date=sent + 60))
    first = await saved(database, chat, 5)
    assert first.text == TASK_TEXT and first.edited_at.timestamp() == sent + 60
    # The original, delivered after its edit (an earlier delivery failed and Telegram retried it).
    await deliver(webhook, base, message=message(chat, 5, "first draft", sent))
    await drained(webhook, database, chat, base + 2, 6)
    after = await row(database, chat, 5)
    assert (after.id, after.text, after.scored_at) == (first.id, TASK_TEXT, first.scored_at)


async def test_a_channel_posts_edit_changes_it_too(webhook, database):
    channel, base = -random.randrange(10**9, 10**12), random.randrange(10**9, 10**12)
    sent = int(time.time()) - 600
    post = {"message_id": 9, "chat": {"id": channel, "type": "channel", "title": "news"}, "date": sent}
    await deliver(webhook, base, channel_post={**post, "text": "draft announcement"})
    before = await saved(database, channel, 9)
    await deliver(webhook, base + 1, edited_channel_post={**post, "text": TASK_TEXT, "edit_date": sent + 5})

    async def edited():
        r = await row(database, channel, 9)
        return r if r.text == TASK_TEXT and r.scored_at is not None else None

    after = await eventually(edited, "the channel post edited and scored again", within=60, interval=0.1)
    assert after.id == before.id and after.scored_at > before.scored_at


async def test_a_vector_of_a_text_since_edited_is_not_written(database):
    """An embedding batch that read a message before an edit must not store the old text's vector on it."""
    chat = -random.randrange(10**9, 10**12)
    async with database.begin() as conn:
        message_id = await conn.scalar(
            text(
                "INSERT INTO message (telegram_chat_id, telegram_message_id, text, sent_at, source, created_at) "
                "VALUES (:c, 1, 'the text after the edit', now(), 'webhook', now()) RETURNING id"
            ),
            {"c": chat},
        )
        provider = await conn.scalar(text("SELECT id FROM llm_provider ORDER BY id LIMIT 1"))
    vector = tracker_embeddings.vector_literal([0.5] * 1536)
    sessions = async_sessionmaker(database, expire_on_commit=False)
    async with sessions() as session:
        stale = await tracker_embeddings.write(
            session, EmbedKind.messages, [message_id], [vector], provider, ["the text before the edit"]
        )
    async with sessions() as session:
        fresh = await tracker_embeddings.write(
            session, EmbedKind.messages, [message_id], [vector], provider, ["the text after the edit"]
        )
    assert (stale, fresh) == (set(), {message_id})
