"""The OpenAI emulator's embeddings rank paraphrases above unrelated texts, in each model's own size, and a test
can plant the answer a classification must give, read back through the real `openai` SDK's `parse()`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import httpx
import openai
import pytest
from pydantic import BaseModel

from emulators.embedding import cosine

PARAPHRASES = [
    (
        "The deploy to production is scheduled for 6 pm today",
        "Deployment to production is scheduled today at 6 pm",
        "Recipe for a chocolate cake with cherries",
    ),
    (
        "Деплой на прод сегодня в 18:00, не мержите в main",
        "Сегодня в 18:00 деплоим на прод, мержить в main нельзя",
        "Рецепт шоколадного торта с вишней",
    ),
    (
        "Клиент жалуется на медленную выгрузку отчётов",
        "Клиенты жалуются, что отчёты выгружаются медленно",
        "Завтра созвон по релизу",
    ),
]


class Topic(BaseModel):
    topic: Literal["infrastructure", "billing", "hiring", "other"]
    confidence: float


class Verdict(BaseModel):
    index: int
    topic: Literal["infrastructure", "billing", "hiring", "other"]
    confidence: float


class Batch(BaseModel):
    verdicts: list[Verdict]


@pytest.fixture
async def client(openai_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{openai_url}/v1", api_key="x", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def control(openai_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{openai_url}/_emulator/openai") as http:
        yield http


@pytest.mark.parametrize("dimensions", [None, 256])
async def test_paraphrases_are_nearer_than_unrelated_texts(client: openai.AsyncOpenAI, dimensions: int | None) -> None:
    extra = {"dimensions": dimensions} if dimensions else {}
    for texts in PARAPHRASES:
        answer = await client.embeddings.create(model="text-embedding-3-small", input=list(texts), **extra)
        text, paraphrase, unrelated = (item.embedding for item in answer.data)
        assert len(text) == (dimensions or 1536)
        assert cosine(text, paraphrase) > 0.25 + max(cosine(text, unrelated), cosine(paraphrase, unrelated)), texts
    first, again = [
        (await client.embeddings.create(model="text-embedding-3-small", input=PARAPHRASES[0][0], **extra)).data[0]
        for _ in range(2)
    ]
    assert first.embedding == again.embedding, "the same text embeds the same every time"


async def test_a_planted_neighbour_ranks_first(client: openai.AsyncOpenAI) -> None:
    corpus = [
        "Weekly sync moved to Thursday",
        "Postgres backup takes forty minutes, move it to a replica",
        "New logo drafts are in the shared folder",
        "Invoice export fails for old contracts",
    ]
    query = "the postgres backup is slow, run it on a replica"
    vectors = [item.embedding for item in (await client.embeddings.create(model="nomic-embed-text", input=corpus)).data]
    asked = (await client.embeddings.create(model="nomic-embed-text", input=query)).data[0].embedding
    ranked = sorted(range(len(corpus)), key=lambda i: -cosine(asked, vectors[i]))
    assert ranked[0] == 1 and len(asked) == 768


async def test_each_model_answers_in_its_own_size(client: openai.AsyncOpenAI) -> None:
    sizes = {"text-embedding-3-large": 3072, "text-embedding-ada-002": 1536, "mxbai-embed-large:latest": 1024}
    for model, size in sizes.items():
        assert len((await client.embeddings.create(model=model, input="hi")).data[0].embedding) == size
    with pytest.raises(openai.BadRequestError, match="does not support specifying dimensions"):
        await client.embeddings.create(model="text-embedding-ada-002", input="hi", dimensions=256)
    with pytest.raises(openai.BadRequestError, match="at most 1536"):
        await client.embeddings.create(model="text-embedding-3-small", input="hi", dimensions=2000)


async def test_a_planted_answer_comes_back_through_parse(
    client: openai.AsyncOpenAI, control: httpx.AsyncClient
) -> None:
    message = "Payment gateway returns 502 for card payments since the morning"
    planted = await control.post(
        "/plant", json={"contains": message, "answer": {"topic": "billing", "confidence": 0.93}}
    )
    assert planted.status_code == 200

    async def classify(text: str) -> Topic:
        completion = await client.chat.completions.parse(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": "Classify the message."}, {"role": "user", "content": text}],
            response_format=Topic,
        )
        return completion.choices[0].message.parsed

    assert await classify(f"Message: {message}") == Topic(topic="billing", confidence=0.93)
    unplanted = await classify("Message: we hired two engineers")  # the schema-filled answer, as before
    assert unplanted == await classify("Message: we hired two engineers")
    # The longest matching text wins: a more specific plant overrides a general one.
    await control.post("/plant", json={"contains": "Payment", "answer": {"topic": "other", "confidence": 0.1}})
    assert (await classify(f"Message: {message}")).topic == "billing"
    assert (await classify("Message: Payment received")).topic == "other"
    plants = (await control.get("/plants")).json()["plants"]
    assert [(p["contains"], p["used"]) for p in plants] == [(message, 2), ("Payment", 1)]

    await control.delete("/plant")
    assert (await classify(f"Message: {message}")) != Topic(topic="billing", confidence=0.93)


async def test_item_plants_answer_one_message_of_a_batch(
    client: openai.AsyncOpenAI, control: httpx.AsyncClient
) -> None:
    await control.post("/plant", json={"contains": "replica lag", "item": {"topic": "infrastructure"}})
    await control.post("/plant", json={"contains": "two engineers", "item": {"topic": "hiring", "confidence": 1.0}})
    batch = "[1] replica lag is 30 s again\n[2] we hired two engineers\n[3] lunch is at noon"
    completion = await client.chat.completions.parse(
        model="gpt-4o-mini", messages=[{"role": "user", "content": batch}], response_format=Batch
    )
    verdicts = completion.choices[0].message.parsed.verdicts
    assert [v.index for v in verdicts] == [1, 2, 3]
    assert (verdicts[0].topic, verdicts[1].topic, verdicts[1].confidence) == ("infrastructure", "hiring", 1.0)


async def test_bad_plants_are_refused_naming_the_field(control: httpx.AsyncClient) -> None:
    for body, field in (({"answer": {}}, "contains"), ({"contains": "x"}, "answer"), ({"contains": ""}, "contains")):
        answer = await control.post("/plant", json=body)
        assert answer.status_code == 422 and field in answer.text, answer.text
