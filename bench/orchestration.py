"""Orchestration overhead: 100,000 no-op items through a job workflow vs a plain asyncio loop.

Both write the same rows with the same code (`bench.items.ItemWriter`): the same batches, the same chunks
(one bulk insert each), the same parallelism (the loop: asyncio.gather under a semaphore; the workflow:
`run_bounded` over activities that heartbeat their cursor after every chunk). The worker runs in this
process, built by worker.py's `build_worker`, against the stack's Temporal dev server.

    python -m bench orchestration [--items 100000] [--batches 1000,2500,5000] [--parallel 2,4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import (
    bench_stack,
    print_targets,
    stack_client,
    stack_settings,
    table,
    write_results,
)
from bench.items import ItemWriter, count_items, ensure_table, truncate
from bench.items_workflow import JOB_TYPE, BenchItemsInput, BenchItemsWorkflow
from bench.worker import bench_worker
from db.session import make_engine
from settings import Settings
from workflows.start import JobRequest, start_job

NAME = "orchestration"
TASK_QUEUE = "bench-orchestration"
TARGET_RATE = 5000.0  # items/s through the workflow
TARGET_RATIO = 1.5  # workflow time / plain loop time


async def plain_loop(writer: ItemWriter, total: int, batch_size: int, chunk_size: int, max_parallel: int) -> None:
    """What the workflow does, minus Temporal: the same batches and chunks, at most `max_parallel` at once."""
    gate = asyncio.Semaphore(max_parallel)

    async def batch(number: int, first_id: int, count: int) -> None:
        async with gate:
            cursor = 0
            while cursor < count:
                n = min(chunk_size, count - cursor)
                await writer.write(number, first_id + cursor, n)
                cursor += n

    await asyncio.gather(
        *(batch(b, start, min(batch_size, total - start)) for b, start in enumerate(range(0, total, batch_size)))
    )


async def timed_plain(engine: AsyncEngine, writer: ItemWriter, total: int, batch: int, chunk: int, par: int) -> float:
    await truncate(engine)
    started = time.perf_counter()
    await plain_loop(writer, total, batch, chunk, par)
    elapsed = time.perf_counter() - started
    written = await count_items(engine)
    if written != total:
        raise RuntimeError(f"plain loop wrote {written} items, not {total}")
    return elapsed


async def timed_workflow(
    client, engine: AsyncEngine, settings: Settings, total: int, batch: int, chunk: int, par: int
) -> tuple[float, int]:
    await truncate(engine)
    inp = BenchItemsInput(total=total, batch_size=batch, max_parallel=par, chunk_size=chunk)
    started = time.perf_counter()
    job = JobRequest(BenchItemsWorkflow.run, inp, JOB_TYPE, "bench", f"bench-items-{uuid.uuid4().hex[:8]}")
    handle = await start_job(client, settings, job)
    result = await handle.result()
    elapsed = time.perf_counter() - started
    if result.status != "completed" or result.written != total:
        raise RuntimeError(f"workflow ended {result.status} with {result.written} of {total} items")
    written = await count_items(engine)
    if written != total:
        raise RuntimeError(f"workflow wrote {written} items, not {total}")
    history = await handle.fetch_history()
    return elapsed, len(history.events)


async def compare_write_methods(engine: AsyncEngine, items: int, chunk: int) -> list[dict[str, Any]]:
    """Why `unnest`: the same chunks written sequentially by each idempotent bulk method."""
    rows = []
    for method in ItemWriter.METHODS:
        writer = ItemWriter(engine, method)
        await truncate(engine)
        await plain_loop(writer, chunk, chunk, chunk, 1)  # warm the statement cache
        await truncate(engine)
        started = time.perf_counter()
        await plain_loop(writer, items, chunk, chunk, 1)
        elapsed = time.perf_counter() - started
        rows.append(
            {"method": method, "items": items, "chunk": chunk, "seconds": elapsed, "items_per_s": items / elapsed}
        )
    return rows


async def run(args: argparse.Namespace) -> dict[str, Any]:
    configs = [(b, p) for b in args.batches for p in args.parallel]
    with bench_stack() as stack:
        settings = stack_settings(stack, TASK_QUEUE)
        engine = make_engine(settings)
        try:
            await ensure_table(engine)
            methods = await compare_write_methods(engine, 20_000, args.chunk)
            print(f"\nwrite methods ({methods[0]['items']:,} items, chunks of {args.chunk}, one at a time):")
            print(
                table(
                    ["method", "seconds", "items/s"], [(m["method"], m["seconds"], m["items_per_s"]) for m in methods]
                )
            )

            writer = ItemWriter(engine, "unnest")
            client = await stack_client(stack)
            async with bench_worker(client, settings, writer):
                # Warm-up: connections, statement caches, the worker's workflow sandbox.
                await timed_plain(engine, writer, 10_000, 1000, args.chunk, 2)
                await timed_workflow(client, engine, settings, 10_000, 1000, args.chunk, 2)

                rows = []
                for batch, par in configs:
                    chunk = min(args.chunk, batch)
                    plain, flow, events = [], [], []
                    for _ in range(args.repeats):
                        plain.append(await timed_plain(engine, writer, args.items, batch, chunk, par))
                        seconds, n_events = await timed_workflow(
                            client, engine, settings, args.items, batch, chunk, par
                        )
                        flow.append(seconds)
                        events.append(n_events)
                    p, w = statistics.median(plain), statistics.median(flow)
                    row = {
                        "batch_size": batch,
                        "max_parallel": par,
                        "chunk_size": chunk,
                        "activities": -(-args.items // batch),
                        "plain_s": p,
                        "workflow_s": w,
                        "plain_items_per_s": args.items / p,
                        "workflow_items_per_s": args.items / w,
                        "ratio": w / p,
                        "history_events": events[0],
                        "plain_runs_s": plain,
                        "workflow_runs_s": flow,
                    }
                    rows.append(row)
                    print(
                        f"  batch {batch:>5} x{par}: plain {p:.2f}s, workflow {w:.2f}s "
                        f"({args.items / w:,.0f} items/s, x{w / p:.2f}, {events[0]} events)",
                        flush=True,
                    )
        finally:
            await engine.dispose()

    best = min(rows, key=lambda r: r["workflow_s"])
    print(f"\n{args.items:,} no-op items, medians of {args.repeats} runs (chunk = one insert + one heartbeat):")
    print(
        table(
            ["batch", "parallel", "chunk", "activities", "plain s", "workflow s", "plain items/s", "workflow items/s",
             "ratio", "history events"],
            [
                (r["batch_size"], r["max_parallel"], r["chunk_size"], r["activities"], r["plain_s"], r["workflow_s"],
                 r["plain_items_per_s"], r["workflow_items_per_s"], r["ratio"], r["history_events"])
                for r in rows
            ],
        )
    )  # fmt: skip
    print(f"best: batch {best['batch_size']}, parallel {best['max_parallel']}, chunk {best['chunk_size']}")

    targets = {
        "workflow_items_per_s": f">= {TARGET_RATE:,.0f}",
        "workflow_over_plain": f"<= {TARGET_RATIO}",
    }
    met = {
        "workflow_items_per_s": best["workflow_items_per_s"] >= TARGET_RATE,
        "workflow_over_plain": best["ratio"] <= TARGET_RATIO,
    }
    print_targets(
        targets,
        met,
        {"workflow_items_per_s": f"{best['workflow_items_per_s']:,.0f}", "workflow_over_plain": f"{best['ratio']:.2f}"},
    )
    path = write_results(
        NAME,
        {
            "items": args.items,
            "batches": args.batches,
            "parallel": args.parallel,
            "chunk": args.chunk,
            "repeats": args.repeats,
            "write_method": "unnest",
            "worker": "in-process, worker.build_worker tuning",
        },
        {"write_methods": methods, "runs": rows, "best": best},
        {"workflow_items_per_s": TARGET_RATE, "workflow_over_plain": TARGET_RATIO},
        met,
    )
    print(f"wrote {path}")
    return {"met": met}


def parser() -> argparse.ArgumentParser:
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    p = argparse.ArgumentParser(prog="python -m bench orchestration", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--batches", type=ints, default=[1000, 2500, 5000, 10000], help="items per activity")
    p.add_argument("--parallel", type=ints, default=[2, 4], help="activities at once")
    p.add_argument("--chunk", type=int, default=1000, help="items per insert and per heartbeat")
    p.add_argument("--repeats", type=int, default=3)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    main()
