"""1C sync: how long 5,000 bank documents and 800 contractors take, and where the time goes.

For each emulator latency (0 and 50 ms per page):
- the jobs: the contractors sync, then the bank sync of the book's year, started through the API and waited for
  (POST to the closed job, as a person would see it);
- the same work in a plain loop in this process, with the same client, page size and upsert statements: reading
  every page from 1C alone (the 1C share), then reading and upserting into emptied tables (1C + database).
The database's share is the plain loop minus the reads; orchestration (Temporal, activities, the worker) is the
job's time minus the plain loop.

    python -m bench onec [--documents 5000] [--contractors 800] [--page-size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import bench_stack, print_targets, table, write_results
from clients.onec import OneCClient
from db import onec_books
from db.session import SessionFactory, make_engine, make_session_factory
from devstack.clients import Api, OneCEmulator
from devstack.stack import ADMIN_PASSWORD, Stack
from domain.onec_paging import Page, PageCursor, pages
from domain.onec_rows import DocumentKind
from settings import Settings

NAME = "onec"
TASK_QUEUE = "bench-onec"
TARGET_SECONDS = 5.0  # both syncs at zero latency (before Longrun: about two minutes for 5,000 documents)
PERIOD = (date(2024, 1, 1), date(2024, 12, 31))  # the book's year
YEAR = {"date_from": PERIOD[0].isoformat(), "date_to": PERIOD[1].isoformat()}  # PERIOD as the API takes it
R = TypeVar("R")  # a page's row: a contractor or a bank document


async def run_jobs(admin: Api) -> tuple[float, dict, dict]:
    started = time.perf_counter()
    contractors = await start_and_wait(admin, "contractors", None)
    bank = await start_and_wait(admin, "bank-transactions", YEAR)
    return time.perf_counter() - started, contractors, bank


async def start_and_wait(admin: Api, what: str, body: dict | None) -> dict:
    task_id = (await admin.ok("POST", f"/api/v1/sync-1c/{what}/sync-async", 202, json=body))["task_id"]
    job = await admin.wait_job(task_id, within=600)
    if job["status"] != "completed":
        raise RuntimeError(f"{what} sync ended {job['status']}: {job['message']}")
    return job


async def plain_loop(settings: Settings, page_size: int, write: bool) -> float:
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    try:
        async with OneCClient(settings) as client:
            contractors = partial(client.contractors_page, size=page_size)
            await copy_pages(contractors, onec_books.upsert_contractors, sessions if write else None)
            for kind in DocumentKind:
                documents = partial(client.documents_page, kind, *PERIOD, size=page_size)
                await copy_pages(documents, onec_books.upsert_documents, sessions if write else None)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def copy_pages(
    read: Callable[[PageCursor], Awaitable[Page[R]]],
    upsert: Callable[[AsyncSession, Sequence[R]], Awaitable[object]],
    sessions: SessionFactory | None,
) -> None:
    """Every page `read` gives, each upserted in a transaction of its own; only read when `sessions` is None."""
    async for page in pages(read):
        if sessions is not None:
            async with sessions() as session, session.begin():
                await upsert(session, page.rows)


async def empty_books(settings: Settings) -> None:
    engine = make_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text("truncate bank_transaction, contractor, onec_sync_page"))
    await engine.dispose()


async def measure(stack: Stack, api_url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = Settings.without_env_file(database_url=stack.pg.database_url, onec_url=stack.onec_url)
    emulator = OneCEmulator(stack.onec_url)
    admin = await Api.login(api_url, "admin", ADMIN_PASSWORD)
    rows = []
    try:
        for latency in (0, 50):
            book = {"seed": 3, "documents": args.documents, "contractors": args.contractors,
                    "pending_contractors": 0, "page_latency_ms": latency}  # fmt: skip
            await emulator.book(**book)
            await empty_books(settings)
            await run_jobs(admin)  # warm-up: connections, the worker's sandbox, statement caches
            await empty_books(settings)
            wall, contractors, bank = await run_jobs(admin)
            reads = await plain_loop(settings, args.page_size, write=False)
            await empty_books(settings)
            plain = await plain_loop(settings, args.page_size, write=True)
            documents = bank["result"]["loaded"]
            rows.append({
                "latency_ms": latency, "documents": documents, "contractors": contractors["result"]["loaded"],
                "wall_s": round(wall, 2), "documents_per_s": round(documents / wall, 1),
                "onec_s": round(reads, 2), "database_s": round(plain - reads, 2),
                "orchestration_s": round(wall - plain, 2), "plain_loop_s": round(plain, 2),
            })  # fmt: skip
            print(f"  {latency} ms per page: {wall:.2f} s", flush=True)
    finally:
        await admin.close()
    return rows


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench onec")
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--contractors", type=int, default=800)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    with bench_stack() as stack:
        api_url = stack.start_api("api", task_queue=TASK_QUEUE)
        stack.start_worker("worker", task_queue=TASK_QUEUE)
        rows = asyncio.run(measure(stack, api_url, args))
    print(table(
        ["1C latency", "documents", "contractors", "wall s", "documents/s", "1C s", "database s", "orchestration s"],
        [[f"{r['latency_ms']} ms", r["documents"], r["contractors"], r["wall_s"], r["documents_per_s"],
          r["onec_s"], r["database_s"], r["orchestration_s"]] for r in rows],
    ))  # fmt: skip
    zero = rows[0]
    targets = {"zero_latency_wall": f"<= {TARGET_SECONDS:g} s for both syncs at zero latency"}
    met = {"zero_latency_wall": zero["wall_s"] <= TARGET_SECONDS}
    print_targets(targets, met, {"zero_latency_wall": f"{zero['wall_s']} s"})
    path = write_results(NAME, vars(args), {"rows": rows}, targets, met)
    print(f"wrote {path}")
    return {"met": met, "rows": rows}
