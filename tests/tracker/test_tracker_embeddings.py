"""The tracker's embeddings on the real stack: jobs that embed messages and atoms with a provider's model through the
OpenAI emulator, semantic search over what they wrote, the providers' endpoints, roles and bad input.

The module has its own database, API and worker (the embedding sweep off), so no other deployment's sweep embeds
what a test plants before the test's own job does; the sweep has a test of its own at the end.
"""

import os
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from db.models.tracker import Atom, Message
from devstack.clients import Api, eventually
from emulators.embedding import cosine, embed
from settings import Settings
from tests.support.deployment import deployment
from tests.support.histories import record
from tests.support.users import users_of
from workflows.schedules import EMBED_SWEEP, schedule_id
from workflows.tracker_embeddings import EMBED_RETRY

QUEUE = "tracker-embeddings"
SWEEP_OFF = {"LONGRUN_TRACKER_EMBED_SWEEP_SECONDS": "0"}

# Planted neighbours: each query shares words and stems with its own text only.
BILLING = "The billing service deploy failed because the invoices migration locked the table for ten minutes"
LUNCH = "Team lunch on Friday at the Italian place near the office, please vote for the time"
DESIGNER = "A new designer joins the mobile app team next week and needs access to Figma"
UKRAINIAN = "Не вдалося розгорнути сервіс оплати, бо міграція заблокувала таблицю рахунків"
MEETING = "Зустріч команди перенесли на четвер через відпустку керівника"


@pytest.fixture(scope="module")
async def embed_env(stack, admin):
    """(the admin's client of this module's API, its database engine)."""
    url = stack.create_database("tracker_embeddings")  # bootstrapped: the default provider and agent configs
    env = {"LONGRUN_DATABASE_URL": url, **SWEEP_OFF}
    database = stack.database(url)
    async with deployment(stack, admin, "embeddings", QUEUE, **env) as api:
        api.env = env
        yield api, database
    await database.dispose()


@pytest.fixture
def api(embed_env) -> Api:
    return embed_env[0]


@pytest.fixture
async def make_user(api):
    """Fresh users of this module's own database, signed in to its API: the stack's shared users are strangers here."""
    async with users_of(api) as make:
        yield make


@pytest.fixture
def db(embed_env):
    return embed_env[1]


async def plant_messages(db, texts: list[str]) -> list[int]:
    """Messages to embed, marked as already read by knowledge extraction: otherwise a chat of 250 waiting messages
    is work for whichever tracker sweep or drainer reaches this database, and its atoms (without vectors) land in
    the middle of the embedding tests (seen once in CI: 100 atoms appeared beside the 30 a test planted)."""
    chat = -uuid.uuid4().int % 10**12
    now = datetime.now(UTC)
    rows = [
        {"telegram_chat_id": chat, "telegram_message_id": n, "text": t, "sent_at": now, "extracted_at": now}
        for n, t in enumerate(texts)
    ]
    async with async_sessionmaker(db)() as session:
        ids = list(await session.scalars(insert(Message).returning(Message.id, sort_by_parameter_order=True), rows))
        await session.commit()
    return ids


async def plant_atoms(db, titles_and_contents: list[tuple[str, str]]) -> list[int]:
    rows = [{"title": title, "content": content} for title, content in titles_and_contents]
    async with async_sessionmaker(db)() as session:
        ids = list(await session.scalars(insert(Atom).returning(Atom.id, sort_by_parameter_order=True), rows))
        await session.commit()
    return ids


async def vectors(db, table: type, ids: list[int]) -> dict[int, tuple[list[float] | None, int | None]]:
    async with async_sessionmaker(db)() as session:
        rows = await session.execute(
            select(table.id, table.embedding, table.embedding_provider_id).where(table.id.in_(ids))
        )
        return {r.id: (None if r.embedding is None else list(r.embedding), r.embedding_provider_id) for r in rows}


async def default_provider(api: Api) -> dict:
    [provider] = [p for p in await api.ok("GET", "/api/v1/providers") if p["name"] == "default"]
    return provider


async def embed_job(api: Api, within: float = 120, **body) -> dict:
    started = await api.ok("POST", "/api/v1/embeddings", 202, json=body)
    return await api.wait_job(started["job_id"], within=within)


def routine(n: int) -> str:
    return f"routine status note {n} about item {uuid.uuid4().hex[:6]}"


async def test_messages_are_embedded_with_the_providers_dimension_and_a_rerun_skips_them(api, db, llm, temporal):
    texts = [routine(n) for n in range(250)]
    ids = await plant_messages(db, [*texts, "   "])
    missing = ids[-1] + 10**6
    provider = await default_provider(api)

    job = await embed_job(api, kind="messages", ids=[*ids, missing])
    assert job["status"] == "completed", job
    result = job["result"]
    assert (result["success"], result["skipped"], result["failed"]) == (250, 1, 1)
    assert result["provider_id"] == provider["id"]
    assert [e["item"] for e in job["errors"]] == [f"message {missing}"]
    assert "not found" in job["errors"][0]["error"]
    # One request per batch of 100: 3 for 250 texts; the blank message was never sent.
    assert await llm.requests("/v1/embeddings") == 3

    stored = await vectors(db, Message, ids)
    embedded = [stored[i] for i in ids[:-1]]
    assert {len(v) for v, _ in embedded} == {1536}
    assert {p for _, p in embedded} == {provider["id"]}
    assert stored[ids[-1]] == (None, None)
    # Each row holds its own text's vector, not a neighbour's: the batch's order survived the round trip.
    for i in (0, 137, 249):
        assert cosine(stored[ids[i]][0], embed(texts[i], 1536)) == pytest.approx(1.0, abs=1e-5)

    again = await embed_job(api, kind="messages", ids=ids)
    assert (again["result"]["success"], again["result"]["skipped"], again["result"]["failed"]) == (0, 251, 0)
    assert await llm.requests("/v1/embeddings") == 3, "a re-run asks the provider nothing"
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job["job_id"], "EmbedItems-ids")


async def test_every_atom_without_a_vector_is_embedded_when_no_ids_are_given(api, db, temporal):
    await plant_atoms(db, [(f"decision {n}", f"we keep option {uuid.uuid4().hex[:6]}") for n in range(30)])
    job = await embed_job(api, kind="atoms")
    assert job["job_id"] == "tracker-embed-atoms-unembedded"
    assert job["status"] == "completed", job
    assert job["result"]["success"] >= 30
    async with db.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM atom WHERE embedding IS NULL")) == 0
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job["job_id"], "EmbedItems-unembedded")


async def test_a_model_giving_another_size_fails_each_item_with_the_reason(api, db):
    # Ollama's endpoint answers in its model's own size whatever is asked: nomic-embed-text gives 768.
    ollama = await api.ok(
        "POST",
        "/api/v1/providers",
        201,
        json={
            "name": f"ollama-{uuid.uuid4().hex[:6]}",
            "kind": "ollama",
            "base_url": (await default_provider(api))["base_url"],
            "chat_model": "llama3.1",
            "embedding_model": "nomic-embed-text",
            "active": False,
        },
    )
    ids = await plant_messages(db, [routine(n) for n in range(5)])
    job = await embed_job(api, kind="messages", ids=ids, provider_id=ollama["id"])
    assert job["status"] == "completed", job
    assert (job["result"]["success"], job["result"]["failed"]) == (0, 5)
    assert {e["item"] for e in job["errors"]} == {f"message {i}" for i in ids}
    assert "768" in job["errors"][0]["error"] and "1536" in job["errors"][0]["error"]
    assert set((await vectors(db, Message, ids)).values()) == {(None, None)}


async def test_a_provider_outage_is_retried_and_nothing_is_embedded_twice(api, db, llm):
    await llm.fault(path="/v1/embeddings", kind="status", status=503, times=2)
    ids = await plant_messages(db, [routine(n) for n in range(120)])
    job = await embed_job(api, kind="messages", ids=ids)
    assert job["status"] == "completed", job
    assert (job["result"]["success"], job["result"]["failed"]) == (120, 0)
    # Two batches, two 503s retried: four requests, and every row written once.
    assert await llm.requests("/v1/embeddings") == 4
    assert all(v is not None for v, _ in (await vectors(db, Message, ids)).values())


async def test_a_provider_away_for_more_attempts_than_a_batch_had_still_embeds_everything(api, db, llm):
    """11 transient faults in a row (8 attempts used to fail the batch); then the provider answers again. The 429s
    name a short Retry-After, so the retries come quickly."""
    await llm.fault(path="/v1/embeddings", kind="drop", times=2)
    await llm.fault(path="/v1/embeddings", kind="status", status=429, retry_after=0.05, times=9)
    ids = await plant_messages(db, [routine(n) for n in range(60)])
    job = await embed_job(api, kind="messages", ids=ids)
    assert job["status"] == "completed", job
    assert (job["result"]["success"], job["result"]["failed"]) == (60, 0), job["errors"]
    assert await llm.requests("/v1/embeddings") == 12
    assert all(v is not None for v, _ in (await vectors(db, Message, ids)).values())
    # Which faults the batch met, by kind, each counted once by the attempt it failed. A dropped connection reads
    # as either kind, depending on how far the request had got when it was cut.
    faults = job["details"]["faults"]
    assert faults.pop("HTTP 429") == 9 and sum(faults.values()) == 2, faults
    assert set(faults) <= {"RemoteProtocolError", "ReadError"}, faults
    assert EMBED_RETRY.maximum_attempts == 0, "attempts are not what bounds a batch"


async def test_a_refused_request_fails_its_batch_at_once_naming_the_faults_before_it(api, db, llm):
    await llm.fault(path="/v1/embeddings", kind="status", status=429, retry_after=0.05, times=2)
    await llm.fault(path="/v1/embeddings", kind="status", status=400, times=1)
    ids = await plant_messages(db, [routine(n) for n in range(60)])
    job = await embed_job(api, kind="messages", ids=ids)
    assert job["status"] == "completed", job
    assert (job["result"]["success"], job["result"]["failed"]) == (0, 60)
    [error] = job["errors"]
    assert error["item"] == f"messages {ids[0]}..{ids[-1]}"
    assert "400" in error["error"] and "(after: 2 × HTTP 429)" in error["error"], error
    assert await llm.requests("/v1/embeddings") == 3, "the 400 was not retried"
    assert set((await vectors(db, Message, ids)).values()) == {(None, None)}


async def test_search_ranks_the_planted_neighbour_first(api, db, make_user):
    messages = await plant_messages(db, [BILLING, LUNCH, DESIGNER, UKRAINIAN, MEETING])
    atoms = await plant_atoms(
        db,
        [
            ("Invoices table lock", "The invoices migration locks the table; run it off-hours"),
            ("Figma access for designers", "New designers get Figma through the IT request form"),
        ],
    )
    await embed_job(api, kind="messages", ids=messages)
    await embed_job(api, kind="atoms", ids=atoms)
    user = await make_user("user")
    reader = Api(api.url, user.token)
    try:
        cases = [
            ("why did the invoice migration lock billing deploys?", messages[0], atoms[0]),
            ("mobile designer joining next week, Figma access", messages[2], atoms[1]),
            ("розгортання сервісу оплати не вдалося через міграцію", messages[3], None),
        ]
        for query, message_id, atom_id in cases:
            found = await reader.ok("GET", "/api/v1/search", params={"q": query, "limit": 3})
            assert found["messages"][0]["id"] == message_id, (query, found["messages"])
            assert found["messages"][0]["similarity"] > found["messages"][1]["similarity"]
            if atom_id is not None:
                assert found["atoms"][0]["id"] == atom_id, (query, found["atoms"])
            assert len(found["messages"]) == 3
    finally:
        await reader.close()


async def test_roles_people_read_editors_start_admins_configure(api, make_user):
    user, manager = await make_user("user"), await make_user("manager")
    as_user, as_manager = Api(api.url, user.token), Api(api.url, manager.token)
    provider = await default_provider(api)
    body = {"name": "x", "base_url": "https://llm.example/v1", "chat_model": "m", "embedding_model": "e"}
    try:
        assert (await as_user.http.post("/api/v1/embeddings", json={"kind": "messages"})).status_code == 403
        assert len(await as_user.ok("GET", "/api/v1/providers")) >= 1
        assert (await as_user.ok("GET", f"/api/v1/providers/{provider['id']}"))["name"] == "default"
        assert (await as_manager.http.post("/api/v1/providers", json=body)).status_code == 403
        patch = await as_manager.http.patch(f"/api/v1/providers/{provider['id']}", json={"active": False})
        assert patch.status_code == 403
        assert (await as_manager.http.delete(f"/api/v1/providers/{provider['id']}")).status_code == 403
        started = await as_manager.ok("POST", "/api/v1/embeddings", 202, json={"kind": "atoms", "ids": [1]})
        assert (await as_manager.wait_job(started["job_id"]))["owner"] == manager.username
        assert (
            await api.http.get("/api/v1/search", params={"q": "x"}, headers={"Authorization": ""})
        ).status_code == 401
    finally:
        await as_user.close()
        await as_manager.close()


def named(response, *loc: str | int) -> bool:
    return response.status_code == 422 and list(loc) in [e["loc"] for e in response.json()["detail"]]


async def test_bad_input_is_422_naming_the_field(api):
    post = api.http.post
    assert named(await post("/api/v1/embeddings", json={"kind": "users"}), "body", "kind")
    assert named(await post("/api/v1/embeddings", json={"kind": "messages", "ids": []}), "body", "ids")
    assert named(await post("/api/v1/embeddings", json={"kind": "messages", "ids": [0]}), "body", "ids", 0)
    many = {"kind": "messages", "ids": list(range(1, 10_002))}
    assert named(await post("/api/v1/embeddings", json=many), "body", "ids")
    unknown = {"kind": "messages", "provider_id": 10**9}
    assert named(await post("/api/v1/embeddings", json=unknown), "body", "provider_id")
    get = api.http.get
    assert named(await get("/api/v1/search", params={"q": "  "}), "query", "q")
    assert named(await get("/api/v1/search"), "query", "q")
    assert named(await get("/api/v1/search", params={"q": "x", "limit": 0}), "query", "limit")
    assert named(await get("/api/v1/search", params={"q": "x" * 2001}), "query", "q")
    good = {"name": f"p-{uuid.uuid4().hex[:6]}", "base_url": "https://llm.example/v1", "chat_model": "m"}
    good["embedding_model"] = "text-embedding-3-small"
    bad = [
        ({"embedding_dimension": 768}, "embedding_dimension"),
        ({"base_url": "javascript:alert(1)"}, "base_url"),
        ({"api_key_env": "sk-live key"}, "api_key_env"),
        ({"kind": "anthropic"}, "kind"),
        ({"chat_model": ""}, "chat_model"),
    ]
    for change, field in bad:
        assert named(await post("/api/v1/providers", json={**good, **change}), "body", field), field
    created = await api.ok("POST", "/api/v1/providers", 201, json={**good, "active": False})
    assert (await post("/api/v1/providers", json=good)).status_code == 409
    assert named(await api.http.patch(f"/api/v1/providers/{created['id']}", json={"name": None}), "body", "name")
    assert (await api.ok("PATCH", f"/api/v1/providers/{created['id']}", json={"chat_model": "m2"}))[
        "chat_model"
    ] == "m2"
    await api.ok("DELETE", f"/api/v1/providers/{created['id']}", 204)
    assert (await api.http.get(f"/api/v1/providers/{created['id']}")).status_code == 404


async def test_without_an_active_provider_search_and_jobs_say_so(api):
    providers = [p for p in await api.ok("GET", "/api/v1/providers") if p["active"]]
    try:
        for p in providers:
            await api.ok("PATCH", f"/api/v1/providers/{p['id']}", json={"active": False})
        search = await api.http.get("/api/v1/search", params={"q": "billing"})
        assert search.status_code == 503 and "no active LLM provider" in search.json()["detail"]
        start = await api.http.post("/api/v1/embeddings", json={"kind": "messages"})
        assert start.status_code == 503 and "/api/v1/providers" in start.json()["detail"]
    finally:
        for p in providers:
            await api.ok("PATCH", f"/api/v1/providers/{p['id']}", json={"active": True})


async def test_cancel_stops_taking_batches_and_nothing_lands_after(api, db, llm, temporal):
    await llm.fault(path="/v1/embeddings", kind="latency", latency_ms=800)
    ids = await plant_messages(db, [routine(n) for n in range(1000)])
    started = await api.ok("POST", "/api/v1/embeddings", 202, json={"kind": "messages", "ids": ids})
    job_id = started["job_id"]

    async def some_done():
        return (await api.job(job_id))["succeeded"] >= 100

    await eventually(some_done, "a first batch embedded", within=60)
    await api.ok("POST", f"/api/v1/jobs/{job_id}/cancel", 202, json={"reason": "enough"})
    job = await api.wait_job(job_id)
    assert job["status"] == "cancelled", job
    assert 100 <= job["result"]["success"] < 1000
    async with db.connect() as conn:
        stored = await conn.scalar(
            select(func.count()).select_from(Message).where(Message.id.in_(ids), Message.embedding.is_not(None))
        )
    assert stored == job["result"]["success"], "every vector written is counted, and none lands after the cancel"
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(temporal, job_id, "EmbedItems-cancelled")


async def test_the_sweep_embeds_new_messages_and_atoms_without_a_job(stack, api, db, temporal):
    """Last: a worker with the sweep on creates this queue's schedule, which would embed what later tests plant."""
    env = {**api.env, "LONGRUN_TRACKER_EMBED_SWEEP_SECONDS": "1"}
    [message] = await plant_messages(db, ["the sweep finds this message on its own"])
    [atom] = await plant_atoms(db, [("Sweep", "the sweep finds this atom on its own")])
    sweep = schedule_id(EMBED_SWEEP, Settings(task_queue=QUEUE))
    stack.start_worker("worker-embeddings-sweep", task_queue=QUEUE, **env)
    try:

        async def embedded():
            return (await vectors(db, Message, [message]))[message][0] is not None and (
                await vectors(db, Atom, [atom])
            )[atom][0] is not None

        await eventually(embedded, "the sweep to embed the new message and atom", within=60, interval=0.5)
    finally:
        stack.stop_named("worker-embeddings-sweep")
        await temporal.get_schedule_handle(sweep).delete()
