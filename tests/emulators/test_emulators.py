"""The emulators over real loopback HTTP with the production clients: the contract the rest of Longrun relies on."""

import base64
import math
import struct
import time
from collections.abc import AsyncIterator
from typing import Literal

import feedparser
import httpx
import openai
import pytest
from pydantic import BaseModel, Field

HEADLINES = (
    "Which of these headlines are news?\n"
    "[1] Council approves new budget [news]\n"
    "[2] Weekly horoscope for Leo [not-news]\n"
    "[3] Bridge repairs start on Monday [news]\n"
    "[7] Sponsored: best deals of the week [spam]\n"
)
ANSWER_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "stars": {"type": "integer", "minimum": 1, "maximum": 5}},
            "required": ["answer", "stars"],
            "additionalProperties": False,
        },
    },
}


class Verdict(BaseModel):
    index: int
    headline: str
    is_news: bool
    reason: str
    category: Literal["politics", "lifestyle", "other"]
    confidence: float = Field(ge=0, le=1)
    note: str | None


class Verdicts(BaseModel):
    verdicts: list[Verdict]
    summary: str


@pytest.fixture
async def client(openai_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{openai_url}/v1", api_key="x", max_retries=0) as sdk:
        yield sdk


async def _add_fault(base_url: str, **rule: object) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{base_url}/_emulator/faults", json=rule)
        response.raise_for_status()
        return response.json()["id"]


async def _stats(base_url: str) -> dict:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{base_url}/_emulator/stats")).json()


async def _ask(client: openai.AsyncOpenAI, text: str, **kwargs: object) -> str:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **kwargs
    )
    return completion.choices[0].message.content


# --- OpenAI-compatible emulator ---------------------------------------------------------------------------------


async def test_parse_gives_one_verdict_per_numbered_line_and_honours_markers(client: openai.AsyncOpenAI) -> None:
    completion = await client.chat.completions.parse(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "You classify headlines."}, {"role": "user", "content": HEADLINES}],
        response_format=Verdicts,
    )

    parsed = completion.choices[0].message.parsed
    assert [v.index for v in parsed.verdicts] == [1, 2, 3, 7]
    assert [v.is_news for v in parsed.verdicts] == [True, False, True, False]
    assert parsed.verdicts[0].headline == "Council Approves New Budget"
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens > 0


async def test_same_text_gives_same_answer_and_other_text_another(client: openai.AsyncOpenAI) -> None:
    first = await _ask(client, "What is the capital of France?", response_format=ANSWER_SCHEMA)
    again = await _ask(client, "What is the capital of France?", response_format=ANSWER_SCHEMA)
    other = await _ask(client, "Summarise the council meeting.", response_format=ANSWER_SCHEMA)

    assert first == again
    assert first != other
    assert first.startswith('{"answer": "Answer: What is the capital of France."')


async def test_json_object_and_plain_text_follow_the_message(client: openai.AsyncOpenAI) -> None:
    as_json = await _ask(client, "[1] Storm closes harbour", response_format={"type": "json_object"})
    plain = await _ask(client, "Tell me about the harbour storm")

    assert '"title": "Storm Closes Harbour"' in as_json
    assert plain == "Answer: Tell me about the harbour storm."


async def test_streaming_is_refused_with_an_openai_error(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="streaming"):
        await _ask(client, "hi", stream=True)


async def test_embeddings_are_deterministic_unit_vectors(client: openai.AsyncOpenAI, openai_url: str) -> None:
    default = await client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta", "alpha"])
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input="alpha", dimensions=64, encoding_format="float"
    )
    async with httpx.AsyncClient() as http:
        raw = await http.post(
            f"{openai_url}/v1/embeddings",
            json={"model": "text-embedding-3-small", "input": "alpha", "dimensions": 64, "encoding_format": "base64"},
        )

    alpha, beta, alpha_again = (item.embedding for item in default.data)
    assert len(alpha) == 1536
    assert alpha == alpha_again
    assert alpha != beta
    assert math.sqrt(sum(x * x for x in alpha)) == pytest.approx(1.0, abs=1e-5)
    assert len(floats.data[0].embedding) == 64
    packed = base64.b64decode(raw.json()["data"][0]["embedding"])
    assert struct.unpack("<64f", packed) == pytest.approx(floats.data[0].embedding, abs=1e-6)


async def test_models_lists_defaults_and_models_seen(client: openai.AsyncOpenAI) -> None:
    await _ask(client, "hello")
    await client.chat.completions.create(model="my-finetune", messages=[{"role": "user", "content": "hi"}])

    names = {model.id async for model in client.models.list()}

    assert {"gpt-4o-mini", "text-embedding-3-small", "my-finetune"} <= names


async def test_rate_limit_fault_is_spent_after_times(client: openai.AsyncOpenAI, openai_url: str) -> None:
    await _add_fault(openai_url, path="/v1/chat/completions", kind="status", status=429, retry_after=1, times=1)

    with pytest.raises(openai.RateLimitError) as raised:
        await _ask(client, "hello")
    assert raised.value.response.headers["retry-after"] == "1"
    assert raised.value.code == "rate_limit_exceeded"
    assert await _ask(client, "hello")
    assert await _stats(openai_url) == {
        "requests": {"/v1/chat/completions": 2},
        "faults_applied": {"/v1/chat/completions": 1},
    }


async def test_a_fault_with_a_probability_takes_that_share_of_requests(openai_url: str) -> None:
    await _add_fault(openai_url, path="/v1/models", kind="status", status=503, probability=0.2)
    async with httpx.AsyncClient(base_url=openai_url) as http:
        statuses = [(await http.get("/v1/models")).status_code for _ in range(500)]
    failed = statuses.count(503)
    assert set(statuses) == {200, 503} and 70 <= failed <= 130, failed  # 100 expected; sd ~9
    assert (await _stats(openai_url))["faults_applied"] == {"/v1/models": failed}
    # Seeded at reset: the same script fails the same requests.
    async with httpx.AsyncClient(base_url=openai_url) as http:
        (await http.post("/_emulator/reset")).raise_for_status()
        await _add_fault(openai_url, path="/v1/models", kind="status", status=503, probability=0.2)
        assert [(await http.get("/v1/models")).status_code for _ in range(500)] == statuses


async def test_the_seed_draws_other_faults_and_the_fault_log_names_each_request(openai_url: str) -> None:
    async def draw(seed: int) -> list[int]:
        async with httpx.AsyncClient(base_url=openai_url) as http:
            (await http.post("/_emulator/reset", params={"seed": seed})).raise_for_status()
            await _add_fault(openai_url, path="/v1/models", kind="status", status=503, probability=0.2)
            return [(await http.get("/v1/models", params={"n": n})).status_code for n in range(200)]

    first = await draw(7)
    assert await draw(7) == first, "one seed, the same faults"
    assert await draw(8) != first, "another seed, other faults"
    failed = [n for n, status in enumerate(await draw(8)) if status == 503]
    async with httpx.AsyncClient(base_url=openai_url) as http:
        log = (await http.get("/_emulator/fault-log")).json()
    assert [entry["request"] for entry in log] == [f"GET /v1/models?n={n}" for n in failed]
    assert {(entry["kind"], entry["status"]) for entry in log} == {("status", 503)}


async def test_latency_fault_delays_the_answer(client: openai.AsyncOpenAI, openai_url: str) -> None:
    await _add_fault(openai_url, kind="latency", latency_ms=300, times=1)

    started = time.monotonic()
    await _ask(client, "hello")

    assert time.monotonic() - started >= 0.2


async def test_drop_fault_closes_the_connection_without_a_response(openai_url: str) -> None:
    await _add_fault(openai_url, path="/v1/models", kind="drop", times=1)

    async with httpx.AsyncClient() as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await http.get(f"{openai_url}/v1/models")
        assert (await http.get(f"{openai_url}/v1/models")).status_code == 200
    assert (await _stats(openai_url))["requests"] == {"/v1/models": 2}


async def test_drop_fault_surfaces_as_connection_error_in_the_sdk(client: openai.AsyncOpenAI, openai_url: str) -> None:
    await _add_fault(openai_url, kind="drop", times=1)

    with pytest.raises(openai.APIConnectionError):
        await _ask(client, "hello")


async def test_deleting_faults_restores_service(client: openai.AsyncOpenAI, openai_url: str) -> None:
    await _add_fault(openai_url, kind="status", status=503)
    with pytest.raises(openai.InternalServerError):
        await _ask(client, "hello")

    async with httpx.AsyncClient() as http:
        (await http.delete(f"{openai_url}/_emulator/faults")).raise_for_status()

    assert await _ask(client, "hello")


async def test_unknown_fault_kind_is_rejected(openai_url: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{openai_url}/_emulator/faults", json={"kind": "explode"})

    assert response.status_code == 422


# --- Feeds emulator ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "media_type"), [("rss", "application/rss+xml"), ("atom", "application/atom+xml")])
async def test_feed_parses_with_requested_window(feeds_url: str, fmt: str, media_type: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{feeds_url}/feeds/world.{fmt}", params={"items": 6, "offset": 2})

    assert response.headers["content-type"].startswith(media_type)
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0
    assert [entry.link for entry in parsed.entries] == [f"{feeds_url}/articles/world/{i}" for i in range(2, 8)]
    assert ["[not-news]" in entry.title for entry in parsed.entries] == [False, True, False, False, False, True]
    assert all(entry.title.endswith("[news]") for entry in parsed.entries if "[not-news]" not in entry.title)


async def test_rss_and_atom_carry_the_same_entries(feeds_url: str) -> None:
    async with httpx.AsyncClient() as http:
        rss = feedparser.parse((await http.get(f"{feeds_url}/feeds/tech.rss")).content)
        atom = feedparser.parse((await http.get(f"{feeds_url}/feeds/tech.atom")).content)

    assert len(rss.entries) == 10
    assert [(e.title, e.link, e.published_parsed) for e in rss.entries] == [
        (e.title, e.link, e.updated_parsed) for e in atom.entries
    ]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
async def test_body_chars_gives_long_html_summaries(feeds_url: str, fmt: str) -> None:
    async with httpx.AsyncClient() as http:
        short = await http.get(f"{feeds_url}/feeds/long.{fmt}", params={"items": 3})
        long = await http.get(f"{feeds_url}/feeds/long.{fmt}", params={"items": 3, "body_chars": 5000})

    parsed = feedparser.parse(long.content)
    assert parsed.bozo == 0
    assert len(long.content) > 3 * 5000 > len(short.content)
    assert all(len(e.summary) >= 5000 and "<p>" in e.summary and "<a href=" in e.summary for e in parsed.entries)
    # The regular entries stay the same stories: only their summaries grow.
    assert [e.link for e in parsed.entries] == [e.link for e in feedparser.parse(short.content).entries]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
async def test_planted_entries_follow_the_regular_ones(feeds_url: str, fmt: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{feeds_url}/feeds/hostile.{fmt}", params={"items": 2, "planted": "true"})

    entries = feedparser.parse(response.content).entries
    assert [e.link for e in entries[:2]] == [f"{feeds_url}/articles/hostile/{i}" for i in range(2)]
    planted = {e.title.split()[2]: (e.get("link"), e.get("id")) for e in entries[2:]}
    assert planted["script-link"] == ("javascript:alert(document.cookie)", None)
    assert planted["data-guid"][1].startswith("data:text/html;base64,")
    assert planted["mixed-case"][0].strip().startswith("JaVaScRiPt:")
    assert planted["good-guid"] == ("javascript:alert(1)", f"{feeds_url}/articles/hostile/planted-good-guid")


async def test_fault_on_one_feed_leaves_others_alone(feeds_url: str) -> None:
    await _add_fault(feeds_url, path="/feeds/bad.rss", kind="status", status=500)

    async with httpx.AsyncClient() as http:
        bad = [(await http.get(f"{feeds_url}/feeds/bad.rss")).status_code for _ in range(2)]
        good = await http.get(f"{feeds_url}/feeds/good.rss")

    assert bad == [500, 500]
    assert good.status_code == 200
    assert (await _stats(feeds_url))["faults_applied"] == {"/feeds/bad.rss": 2}


async def test_broken_feed_is_malformed_and_unknown_paths_are_404(feeds_url: str) -> None:
    async with httpx.AsyncClient() as http:
        broken = await http.get(f"{feeds_url}/feeds/world.broken")
        missing = await http.get(f"{feeds_url}/feeds/world.json")

    assert broken.status_code == 200
    assert feedparser.parse(broken.content).bozo == 1
    assert missing.status_code == 404
