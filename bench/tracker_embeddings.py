"""Tracker embeddings: 10,000 messages embedded through the EmbedItems job, against a plain loop doing the same work.

The OpenAI emulator answers at zero latency, so what is measured is our side: the job (started through the API,
waited for as a person would see it closed) lists the unembedded messages and runs batches of 100, a few at
once; the plain loop, in this process, takes the same ids 100 at a time with the same client and the same database
statements (load texts, one embeddings request, one UPDATE), one batch after another. Each run starts from freshly
inserted messages, so both build the HNSW index from empty.

    python -m bench tracker_embeddings [--messages 10000] [--parallel 1 4]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, text

from bench.common import bench_stack, print_targets, stack_client, stack_settings, table, write_results
from clients.providers import ProviderClients
from db import tracker_embeddings
from db.models.tracker import LLMProvider, Message
from db.session import make_engine, make_session_factory
from db.tracker_embeddings import EmbedKind
from devstack.clients import Api
from devstack.stack import ADMIN_PASSWORD, Stack
from settings import Settings
from workflows.start import start_job
from workflows.tracker_embeddings import EmbedItemsInput, embed_job

NAME = "tracker_embeddings"
TASK_QUEUE = "bench-embeddings"
TARGET_RATIO = 1.5  # the job's time over the plain loop's, at zero provider latency
BATCH = 100
WORDS = (
    "deploy billing invoice migration table lock release review design mobile team sprint roadmap customer "
    "support ticket outage database index query latency report budget meeting decision question access login "
    "password export import backup schedule friday monday server cluster cache queue worker retry timeout"
).split()


def message_texts(count: int, seed: int = 9) -> list[str]:
    """Chat messages of 12-40 words: the length of a typical message in a team's chat."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(12, 40))) + f" #{n}" for n in range(count)]


async def fresh_messages(sessions, count: int) -> list[int]:
    async with sessions() as session:
        await session.execute(text("TRUNCATE message CASCADE"))
        now = datetime.now(UTC)
        rows = [
            {"telegram_chat_id": -100, "telegram_message_id": n, "text": t, "sent_at": now}
            for n, t in enumerate(message_texts(count))
        ]
        ids = list(await session.scalars(insert(Message).returning(Message.id, sort_by_parameter_order=True), rows))
        await session.commit()
        await session.execute(text("ANALYZE message"))
    return ids


async def embedded_count(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(text("SELECT count(*) FROM message WHERE embedding IS NOT NULL"))


async def through_api(admin: Api) -> tuple[float, dict]:
    started = time.perf_counter()
    job_id = (await admin.ok("POST", "/api/v1/embeddings", 202, json={"kind": "messages"}))["job_id"]
    job = await admin.wait_job(job_id, within=900)
    return time.perf_counter() - started, job


async def through_client(stack: Stack, settings: Settings, parallel: int) -> tuple[float, dict]:
    client = await stack_client(stack)
    inp = EmbedItemsInput(kinds=[EmbedKind.messages], max_parallel=parallel)
    started = time.perf_counter()
    result = await (await start_job(client, settings, embed_job(inp, "bench"))).result()
    return time.perf_counter() - started, {"status": result.status.value, "result": result.model_dump(mode="json")}


async def plain_loop(settings: Settings, sessions, ids: list[int]) -> tuple[float, dict[str, float]]:
    """What the job does, with none of it durable: the same client, statements and batch size, one at a time.
    Returns its time and where it went (the provider's request, turning vectors to text, the database)."""
    async with sessions() as session:
        provider = await tracker_embeddings.active_provider(session)
    if provider is None:
        raise RuntimeError("no active LLM provider to embed with (the bootstrap makes one)")
    providers = ProviderClients(settings)
    parts = {"provider_s": 0.0, "format_s": 0.0, "database_s": 0.0}
    started = time.perf_counter()
    try:
        for i in range(0, len(ids), BATCH):
            t0 = time.perf_counter()
            async with sessions() as session:
                rows = await tracker_embeddings.pending(session, EmbedKind.messages, ids[i : i + BATCH])
            t1 = time.perf_counter()
            vectors = await providers.embed(provider, [r.text for r in rows])  # pyright: ignore[reportArgumentType]  # a stored LLMProvider is a ProviderLike (pyright issue 11021)
            t2 = time.perf_counter()
            literals = await asyncio.to_thread(lambda v=vectors: [tracker_embeddings.vector_literal(x) for x in v])
            t3 = time.perf_counter()
            async with sessions() as session:
                await tracker_embeddings.write(
                    session, EmbedKind.messages, [r.id for r in rows], literals, provider.id, [r.text for r in rows]
                )
            t4 = time.perf_counter()
            parts["provider_s"] += t2 - t1
            parts["format_s"] += t3 - t2
            parts["database_s"] += (t1 - t0) + (t4 - t3)
        return time.perf_counter() - started, {k: round(v, 2) for k, v in parts.items()}
    finally:
        await providers.close()


async def run(stack: Stack, api_url: str, messages: int, parallel: list[int]) -> tuple[list[dict], dict, dict]:
    """(table rows, targets met, what the JSON keeps): the API's job, the job at each `parallel`, the plain loop."""
    settings = stack_settings(stack, TASK_QUEUE)
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    admin = await Api.login(api_url, "admin", ADMIN_PASSWORD)
    rows: list[dict[str, Any]] = []
    try:
        async with sessions() as session:
            assert await session.scalar(select(LLMProvider.id).where(LLMProvider.active)), "bootstrap's provider"
        await fresh_messages(sessions, 500)
        await through_api(admin)  # warm-up: the worker's sandbox, connections, the emulator's first requests

        runs: list[tuple[str, Any]] = [("job via API (default parallel)", lambda: through_api(admin))]
        runs += [(f"job, {p} batches at once", lambda p=p: through_client(stack, settings, p)) for p in parallel]
        for label, start in runs:
            await fresh_messages(sessions, messages)
            wall, job = await start()
            if job["status"] != "completed" or job["result"]["success"] != messages:
                raise RuntimeError(f"{label}: {job['status']}, {job['result']}")
            rows.append(
                {"how": label, "items": messages, "wall_s": round(wall, 2), "items_per_s": round(messages / wall)}
            )
            print(f"  {label}: {wall:.2f} s", flush=True)

        ids = await fresh_messages(sessions, messages)
        plain, parts = await plain_loop(settings, sessions, ids)
        if await embedded_count(sessions) != messages:
            raise RuntimeError("the plain loop left messages without a vector")
        rows.append({"how": "plain loop, same client", "items": messages, "wall_s": round(plain, 2),
                     "items_per_s": round(messages / plain)})  # fmt: skip
        print(f"  plain loop: {plain:.2f} s ({', '.join(f'{k} {v}' for k, v in parts.items())})", flush=True)
    finally:
        await admin.close()
        await engine.dispose()
    for row in rows:
        row["ratio"] = round(row["wall_s"] / plain, 2)
    api_row = rows[0]
    met = {"ratio_to_plain_loop": api_row["ratio"] <= TARGET_RATIO}
    return rows, met, {"rows": rows, "plain_loop_s": round(plain, 2), "plain_loop_parts": parts}


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench tracker_embeddings")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--parallel", type=int, nargs="*", default=[1, 4], help="batches at once, one job each")
    args = parser.parse_args(argv)
    with bench_stack() as stack:
        api_url = stack.start_api("api", task_queue=TASK_QUEUE)
        stack.start_worker("worker", task_queue=TASK_QUEUE)
        rows, met, results = asyncio.run(run(stack, api_url, args.messages, args.parallel))
    print(table(
        ["how", "items", "wall s", "items/s", "× plain loop"],
        [[r["how"], r["items"], r["wall_s"], r["items_per_s"], r["ratio"]] for r in rows],
    ))  # fmt: skip
    targets = {"ratio_to_plain_loop": f"<= {TARGET_RATIO:g}× the plain loop's time ({args.messages} messages)"}
    print_targets(targets, met, {"ratio_to_plain_loop": f"{rows[0]['ratio']}× ({rows[0]['items_per_s']} items/s)"})
    path = write_results(NAME, vars(args), results, targets, met)
    print(f"wrote {path}")
    return {"met": met, "rows": rows}
