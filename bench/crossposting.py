"""Telegram → MAX migration: how close to MAX's rate limit it runs, and what it costs with no limit at all.

(a) Paced. A channel of --posts posts in the benchmark's mix (70% text, 20% single photos, 10% photo albums:
the stand-in's `bench_<n>`), read through pyrogram from the stand-in at 50 ms per history page and 100 ms per
file download, into the MAX emulator at its real 30 requests/s per bot token (uploads count; attachments not
ready for MAX's default time after upload). MAX's 2 messages/s per chat is off here: this measures the token's
limit, which is what the issue states. Reported: wall time, requests at MAX by kind, and the share of the
limit used while the backlog lasted (requests ÷ (30/s × time from the first request to the last)).

(b) Unlimited. --big text posts (the stand-in's `text_<n>`), no rate limit anywhere: posts/s, the worker's
RSS sampled every second (peak and the last tenth against the first tenth: flat means no growth with history
length), and history events per workflow run (continue-as-new keeps each run bounded).

    python -m bench crossposting [--posts 10000] [--big 200000] [--skip-paced] [--skip-big]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.common import bench_stack, print_targets, stack_client, table, write_results
from devstack import processes as ps
from devstack.clients import Api, Emulator, eventually
from devstack.stack import ADMIN_PASSWORD, Stack

NAME = "crossposting"
TASK_QUEUE = "bench-migration"
TARGET_UTILISATION = 0.95
TARGET_RSS_MB = 300.0
TARGET_EVENTS_PER_RUN = 10_000
# RSS "flat": the last tenth of the run no more than this much above the first tenth (after warm-up).
TARGET_RSS_GROWTH_MB = 30.0
UNLIMITED = "100000"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def link_for(admin: Api, chat: str, chat_id: int, token: str) -> int:
    tg = await admin.ok("POST", "/api/v1/telegram-channels", 201, json={"title": chat, "chat": chat})
    mx = await admin.ok(
        "POST", "/api/v1/max-channels", 201, json={"title": chat, "chat_id": chat_id, "bot_token": token}
    )
    link = await admin.ok(
        "POST", "/api/v1/links", 201, json={"telegram_channel_id": tg["id"], "max_channel_id": mx["id"]}
    )
    return link["id"]


async def run_migration(admin: Api, link_id: int, worker: ps.Proc, within: float) -> tuple[dict, float, list[float]]:
    """Start, wait for the end, sample the worker's RSS every second meanwhile."""
    started = time.monotonic()
    job_id = (await admin.ok("POST", "/api/v1/migrations", 202, json={"link_id": link_id}))["job_id"]
    samples: list[float] = []

    async def done():
        samples.append(rss_mb(worker.pid))
        snap = await admin.job(job_id)
        return snap if snap["status"] in ("completed", "failed", "cancelled") else None

    job = await eventually(done, f"migration {job_id}", within=within, interval=1.0)
    return job, time.monotonic() - started, samples


async def events_per_run(client, job_id: str) -> list[int]:
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{job_id}'")]
    counts = []
    for run in runs:
        history = await client.get_workflow_handle(job_id, run_id=run.run_id).fetch_history()
        counts.append(len(history.events))
    return counts


async def paced(stack: Stack, admin: Api, worker: ps.Proc, args: argparse.Namespace) -> dict[str, Any]:
    telegram, max_emulator = Emulator(stack.telegram_url), Emulator(stack.max_url)
    await telegram.fault(path="/rpc/messages.GetHistory", kind="latency", latency_ms=50)
    await telegram.fault(path="/rpc/upload.GetFile", kind="latency", latency_ms=100)
    chat, token = f"bench_{args.posts}", "bench-paced-token"
    link_id = await link_for(admin, chat, 9_001, token)
    job, wall, _ = await run_migration(admin, link_id, worker, within=args.posts * 1.0 + 600)
    answer = await max_emulator.control("GET", f"/_emulator/max/arrivals?token={token}")
    arrivals = answer["arrivals"]
    stats = (await max_emulator.stats())["max"]["tokens"][token]
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    utilisation = len(arrivals) / (30.0 * span) if span else 0.0
    await telegram.reset()
    return {
        "posts": args.posts,
        "status": job["status"],
        "wall_s": round(wall, 1),
        "messages_migrated": job["result"]["messages_migrated"],
        "max_messages": job["result"]["posts_published"],
        "requests": len(arrivals),
        "by_endpoint": stats["by_endpoint"],
        "rejected_429": stats["rejected"],
        "worst_second": stats["max_per_second"],
        "backlog_s": round(span, 1),
        "utilisation": round(utilisation, 4),
        "pauses": pauses(arrivals, answer["endpoints"]),
    }


def pauses(arrivals: list[float], endpoints: list[str], rate: float = 30.0, headroom: float = 0.04) -> dict[str, Any]:
    """Where the limit went unused: every gap between two arrivals longer than 1.5 slots, as slots lost,
    by the endpoint whose request ended the gap and by the gap's length. The rest of what is lost is the
    limiter's headroom (`headroom` of every second)."""
    slot = 1.0 / (rate * (1.0 - headroom))
    by_endpoint: dict[str, float] = {}
    by_length = {"<0.1s": 0.0, "0.1-0.5s": 0.0, "0.5-2s": 0.0, ">=2s": 0.0}
    count = 0
    longest: list[tuple[float, float, str]] = []
    for before, after, endpoint in zip(arrivals, arrivals[1:], endpoints[1:], strict=False):
        gap = after - before
        if gap <= 1.5 * slot:
            continue
        count += 1
        longest.append((round(gap, 3), round(before - arrivals[0], 2), endpoint))
        lost = (gap - slot) * rate
        by_endpoint[endpoint] = by_endpoint.get(endpoint, 0.0) + lost
        bucket = "<0.1s" if gap < 0.1 else "0.1-0.5s" if gap < 0.5 else "0.5-2s" if gap < 2 else ">=2s"
        by_length[bucket] += lost
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return {
        "gaps": count,
        "slots_lost_in_gaps": round(sum(by_endpoint.values())),
        "share_lost_in_gaps": round(sum(by_endpoint.values()) / (rate * span), 4) if span else 0.0,
        "by_endpoint": {k: round(v) for k, v in sorted(by_endpoint.items(), key=lambda kv: -kv[1])},
        "by_length": {k: round(v) for k, v in by_length.items()},
        "longest": sorted(longest, reverse=True)[:15],  # (seconds, seconds into the backlog, ended by)
    }


async def unlimited(stack: Stack, admin: Api, worker: ps.Proc, args: argparse.Namespace) -> dict[str, Any]:
    max_emulator = Emulator(stack.max_url)
    await max_emulator.control("POST", "/_emulator/max/config", rate_limit_per_second=0)
    chat = f"text_{args.big}"
    link_id = await link_for(admin, chat, 9_002, "bench-unlimited-token")
    job, wall, samples = await run_migration(admin, link_id, worker, within=args.big / 50 + 600)
    client = await stack_client(stack)
    counts = await events_per_run(client, job["job_id"])
    tenth = max(len(samples) // 10, 1)
    warm = samples[tenth : 2 * tenth] or samples[:tenth]
    growth = statistics.mean(samples[-tenth:]) - statistics.mean(warm) if samples else 0.0
    return {
        "posts": args.big,
        "status": job["status"],
        "wall_s": round(wall, 1),
        "posts_per_s": round(job["result"]["messages_migrated"] / wall, 1),
        "messages_migrated": job["result"]["messages_migrated"],
        "rss_peak_mb": round(max(samples), 1) if samples else None,
        "rss_growth_mb": round(growth, 1),
        "runs": len(counts),
        "events_per_run_max": max(counts) if counts else None,
        "events_per_run": counts,
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench crossposting")
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=200_000)
    parser.add_argument("--skip-paced", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with bench_stack() as stack:
        results = asyncio.run(run_all(stack, args))
    return report(results, args)


@asynccontextmanager
async def deployment(stack: Stack, name: str, **env: str) -> AsyncIterator[tuple[Api, ps.Proc]]:
    """An API and a worker of this benchmark's own, with `env`; the admin logged in to that API, and the worker."""
    api_url = stack.start_api(f"api-{name}", task_queue=TASK_QUEUE, env=env)
    worker = stack.start_worker(f"worker-{name}", task_queue=TASK_QUEUE, env=env)
    admin = await Api.login(api_url, "admin", ADMIN_PASSWORD)
    try:
        yield admin, worker
    finally:
        await admin.close()
        stack.stop_named(f"api-{name}", f"worker-{name}")


async def run_all(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    no_chat_limit = {"LONGRUN_MAX_CHAT_MESSAGES_PER_SECOND": "0"}
    if not args.skip_paced:
        async with deployment(stack, "paced", **no_chat_limit) as (admin, worker):
            print(f"  paced: {args.posts} posts at 30 requests/s ...", flush=True)
            results["paced"] = await paced(stack, admin, worker, args)
    if not args.skip_big:
        async with deployment(stack, "big", **no_chat_limit, LONGRUN_MAX_RATE_PER_SECOND=UNLIMITED) as (admin, worker):
            print(f"  unlimited: {args.big} text posts ...", flush=True)
            results["unlimited"] = await unlimited(stack, admin, worker, args)
            async with stack.database().connect() as conn:
                results["unlimited"]["log_rows"] = await conn.scalar(text("select count(*) from message_log"))
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    targets, met, measured = {}, {}, {}
    if "paced" in results:
        p = results["paced"]
        print("\n(a) paced: the benchmark's mix at MAX's 30 requests/s per token")
        print(table(
            ["posts", "wall s", "MAX messages", "requests", "429s", "worst second", "backlog s", "share of limit"],
            [[p["posts"], p["wall_s"], p["max_messages"], p["requests"], p["rejected_429"], p["worst_second"],
              p["backlog_s"], f"{p['utilisation']:.1%}"]],
        ))  # fmt: skip
        print(f"  requests by endpoint: {p['by_endpoint']}")
        g = p["pauses"]
        print(
            f"  pauses over 1.5 slots: {g['gaps']}, {g['slots_lost_in_gaps']} slots ({g['share_lost_in_gaps']:.1%}) "
            f"ended by {g['by_endpoint']}, by length {g['by_length']}"
        )
        targets["utilisation"] = f">= {TARGET_UTILISATION:.0%} of 30 requests/s while the backlog lasts"
        met["utilisation"] = p["status"] == "completed" and p["utilisation"] >= TARGET_UTILISATION
        measured["utilisation"] = f"{p['utilisation']:.1%} ({p['status']})"
    if "unlimited" in results:
        u = results["unlimited"]
        print("\n(b) unlimited: text posts, no rate limit")
        print(table(
            ["posts", "wall s", "posts/s", "RSS peak MB", "RSS growth MB", "runs", "events/run (max)"],
            [[u["posts"], u["wall_s"], u["posts_per_s"], u["rss_peak_mb"], u["rss_growth_mb"], u["runs"],
              u["events_per_run_max"]]],
        ))  # fmt: skip
        targets["rss_peak"] = f"<= {TARGET_RSS_MB:.0f} MB"
        met["rss_peak"] = u["status"] == "completed" and (u["rss_peak_mb"] or 0) <= TARGET_RSS_MB
        measured["rss_peak"] = f"{u['rss_peak_mb']} MB"
        targets["rss_flat"] = f"last tenth <= first tenth + {TARGET_RSS_GROWTH_MB:.0f} MB"
        met["rss_flat"] = u["rss_growth_mb"] <= TARGET_RSS_GROWTH_MB
        measured["rss_flat"] = f"{u['rss_growth_mb']:+.1f} MB"
        targets["events_per_run"] = f"<= {TARGET_EVENTS_PER_RUN:,}"
        met["events_per_run"] = (u["events_per_run_max"] or 0) <= TARGET_EVENTS_PER_RUN
        measured["events_per_run"] = f"{u['events_per_run_max']:,} over {u['runs']} runs"
    print_targets(targets, met, measured)
    path = write_results(NAME, vars(args), results, targets, met)
    print(f"wrote {path}")
    return {"met": met, "results": results}
