"""What a person sees of a classification experiment with no planted answers, as under `make up`: the messages the
Telegram emulator generates, extracted by the OpenAI emulator and classified again by it, come out mostly right with
a few mistakes in the confusion matrix, the same ones every time (it showed accuracy 0.0: the extraction named each
message's topic after its own words, and the classifier answered names no topic had)."""

import random

from emulators import telegram_bot_data
from tests.support.tracker import ensure_extractor, seed_messages, window

MESSAGES = 60


async def experiment(admin, chat_id: int) -> dict:
    started = await admin.ok(
        "POST", "/api/v1/experiments", 202, json={"message_count": MESSAGES, "telegram_chat_id": chat_id}
    )
    assert (await admin.wait_job(started["job_id"]))["status"] == "completed"
    return await admin.ok("GET", f"/api/v1/experiments/{started['id']}")


async def test_an_experiment_over_the_emulators_messages_is_mostly_right_and_the_same_twice(admin, database, llm):
    await ensure_extractor(database)
    chat = -random.randrange(10**9, 10**12)
    texts = [u["message"]["text"] for u in telegram_bot_data.message_updates(MESSAGES, chat_id=chat)]
    start, _ = window()
    await seed_messages(database, chat, start, texts)
    extraction = await admin.ok("POST", "/api/v1/extraction", 202, json={"telegram_chat_id": chat})
    assert (await admin.wait_job(extraction["job_id"]))["status"] == "completed"

    first = await experiment(admin, chat)
    assert first["classified"] == MESSAGES
    assert 0.5 < first["accuracy"] < 1.0
    matrix = first["confusion_matrix"]
    mistakes = {(actual, predicted) for actual, row in matrix.items() for predicted in row if predicted != actual}
    assert mistakes and len(matrix) >= 4
    second = await experiment(admin, chat)
    assert (second["accuracy"], second["confusion_matrix"]) == (first["accuracy"], matrix)
