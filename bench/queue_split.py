"""`python -m bench queue_split`: what the task queues per kind buy the tracker's webhook chain (issue 21).

The tracker's webhook at `--rate` updates/s for `--seconds` (bench/tracker_webhook.py, as `python -m bench tracker
--skip-embeddings` drives it), in phases, each on a fresh stack:

- alone: the webhook chain and nothing else; one worker serving every kind (the baseline).
- split: a 10,000-post migration (bench/crossposting.py's paced channel, MAX at its real 30 requests/s per token)
  and a 1C year sync (bench/onec.py's book) started just before the webhook phase and running through it, on the
  bulk queue, served by a worker of its own (`LONGRUN_WORKER_QUEUES=bulk`); the chain's worker serves interactive
  and llm.
- shared: the same load with one worker serving every kind, as `make up` runs it. The split is per kind, so this
  is the "one shared queue" of the issue: one process, one pool of slots, one event loop for all the work.
- split-niced (only when asked, `--phases`): as split, the bulk worker under `nice -n 10`. On one host this stands
  in for the bulk kind on a host of its own; only the split makes it possible, since a process serving every kind
  cannot lower the priority of part of its work.
- split-pinned (only when asked): as split, each side on a core of its own (bench/host_cpus.py), the nearest this
  host comes to two: the API, the chain's worker and the OpenAI emulator on one; the bulk worker, the Postgres
  backends serving it and the emulators it talks to (MAX, 1C, Telegram) on the other. Temporal, the rest of Postgres
  and the load generator stay free, as servers of their own would be.
- split-limited (only when asked): as split, the same bulk side held to `--bulk-cpus` cores (a CPU quota: what
  compose's `cpus:` and a Kubernetes container's `limits.cpu` give the bulk worker's service on a shared host).

The migration's and the sync's progress is read before and after the webhook phase (and every few seconds during
it): they must have been running through all of it. Targets: the webhook's p99 and update -> scored p50 under split
within 10% of alone (medians over `--runs`); shared is reported against alone as what the split buys.

This machine's two cores carry the API, Postgres, Temporal and every worker: separate queues do not give the
chain a CPU of its own here the way a separate host would, and the figures say what they say.

    python -m bench queue_split [--seconds 60] [--rate 200] [--runs 1] [--phases alone,split,shared]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from bench.common import bench_stack, print_targets, table, write_results
from bench.crossposting import link_for
from bench.host_cpus import CpuLimit, pin, process_stats, with_descendants
from bench.onec import YEAR
from bench.tracker_webhook import SECRET
from bench.tracker_webhook import measure as measure_webhook
from devstack import processes as ps
from devstack.clients import Api, Emulator, OneCEmulator, eventually
from devstack.stack import ADMIN_PASSWORD, Stack, served_queues

NAME = "queue_split"
TASK_QUEUE = "bench-queue-split"
TOLERANCE = 0.10  # the issue: within 10% of the tracker benchmark alone
POSTS = 10_000
MAX_TOKEN = "bench-queue-split-token"
# What the 1C sync reads per second of the phase at most (measured here: ~1,000 documents/s beside the webhook):
# the book is sized so that the sync is still reading when the webhook phase ends.
ONEC_DOCUMENTS_PER_SECOND = 2_000
ONEC_MAX_DOCUMENTS = 200_000  # the emulator makes it in ~5 s and ~300 MB (it allows 500,000)
ONEC_PAGE_LATENCY_MS = 50  # bench/onec.py's slower row: a 1C on the network
SAMPLE_SECONDS = 5.0
# A 1C page is 1,000 documents: on a starved host one takes seconds, so "ran through" allows this long without a move.
STALL_ALLOWED = 15.0
NICENESS = 10
CHAIN_CPUS = {0}  # split-pinned: the chain's "host"
BULK_CPUS = {1}  # and the bulk worker's
BULK_CPU_LIMIT = 0.5  # split-limited's default, in cores
# A backend the bulk worker's pool opens later runs where the postmaster does until it is placed.
REPLACE_SECONDS = 1.0
JOB_CLOSED = ("completed", "failed", "cancelled")
ENV = {
    "LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET,
    # MAX's 2 messages/s per chat off, as bench crossposting: the migration runs at the token's 30 requests/s.
    "LONGRUN_MAX_CHAT_MESSAGES_PER_SECOND": "0",
}


Placing = Literal["pinned", "limited"]


@dataclass(frozen=True)
class Worker:
    name: str
    queues: str  # LONGRUN_WORKER_QUEUES: empty serves every kind
    niced: bool = False


@dataclass(frozen=True)
class Phase:
    name: str
    label: str
    workers: tuple[Worker, ...]
    bulk_load: bool
    placed: Placing | None = None  # the bulk side on cores of its own, or held to a CPU limit


ONE_WORKER = (Worker("worker", ""),)
SPLIT_WORKERS = (Worker("worker-chain", "interactive,llm"), Worker("worker-bulk", "bulk"))
PHASES = {
    phase.name: phase
    for phase in (
        Phase("alone", "webhook alone, one worker (baseline)", ONE_WORKER, bulk_load=False),
        Phase(
            "split",
            "+ migration and 1C on the bulk queue's own worker",
            SPLIT_WORKERS,
            bulk_load=True,
        ),
        Phase(
            "split-niced",
            f"as split, the bulk worker under nice -n {NICENESS}",
            (Worker("worker-chain", "interactive,llm"), Worker("worker-bulk", "bulk", niced=True)),
            bulk_load=True,
        ),
        Phase(
            "split-pinned",
            "as split, the chain and the bulk worker each on a core of its own",
            SPLIT_WORKERS,
            bulk_load=True,
            placed="pinned",
        ),
        Phase(
            "split-limited",
            "as split, the bulk worker's side held to --bulk-cpus cores",
            SPLIT_WORKERS,
            bulk_load=True,
            placed="limited",
        ),
        Phase("shared", "+ migration and 1C, one worker serving every kind", ONE_WORKER, bulk_load=True),
    )
}
DEFAULT_PHASES = "alone,split,shared"


def start_worker(stack: Stack, worker: Worker) -> ps.Proc:
    if not worker.niced:
        return stack.start_worker(worker.name, task_queue=TASK_QUEUE, env=ENV, LONGRUN_WORKER_QUEUES=worker.queues)
    # Stack.start_worker runs `python worker.py`; the same under nice, so every thread it starts inherits the niceness.
    env = stack.env(TASK_QUEUE, **ENV, LONGRUN_WORKER_QUEUES=worker.queues, PYTHONUNBUFFERED="1")
    args = ["nice", "-n", str(NICENESS), ps.python_executable(), "worker.py"]
    proc = ps.Proc(worker.name, args, log_path=stack.logs / f"{worker.name}.log", env=env, cwd=ps.ROOT)
    stack.procs.append(proc)
    ps.wait_worker_polling(stack.temporal_address, served_queues(env), proc.pid, 60, proc, stack.namespace)
    return proc


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (a process and its children: Postgres's backends), by
    this process (the load generator), and by the whole machine (other people's work is the difference)."""
    roots = {proc.pid: proc.name for proc in stack.procs}
    roots |= {proc.pid: "emulators" for proc in (stack.openai, stack.feeds, stack.telegram, stack.telegram_bot)}
    roots |= {stack.onec.pid: "onec emulator", stack.max.pid: "max emulator"}
    roots |= {stack.temporal.pid: "temporal", stack.pg.pid: "postgres", os.getpid(): "bench (load)"}
    stats = process_stats()
    out = dict.fromkeys(roots.values(), 0.0)
    for pid, stat in stats.items():
        ancestor = pid
        while ancestor not in roots and ancestor in stats:
            ancestor = stats[ancestor].parent
        if ancestor in roots:
            out[roots[ancestor]] += stat.cpu_seconds
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    out["machine"] = (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    return out


def cpu_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, Any]:
    """Cores each part kept busy between two `cpu_seconds`, on average; `others` is what no part of ours used."""
    cores = {name: round((after.get(name, 0.0) - used) / seconds, 2) for name, used in before.items()}
    cores["others"] = round(cores["machine"] - sum(v for k, v in cores.items() if k != "machine"), 2)
    return {"seconds": round(seconds, 1), "cores": cores}


class BulkSide:
    """split-pinned and split-limited: the bulk worker, the Postgres backends serving it and the emulators it talks
    to, on a core of their own (the chain's side on the other) or held to a CPU limit."""

    def __init__(self, stack: Stack, placing: Placing, bulk_cpus: float) -> None:
        named = {proc.name: proc.pid for proc in stack.procs}
        self.database_uri = stack.pg.uri()
        self.placing = placing
        self.chain = {named["api"], named["worker-chain"], stack.openai.pid}
        self.bulk = {named["worker-bulk"], stack.max.pid, stack.onec.pid, stack.telegram.pid}
        self.limit = CpuLimit("longrun-bench-bulk", bulk_cpus) if placing == "limited" else None

    def place(self, pids: set[int]) -> None:
        if self.limit is not None:
            self.limit.add(pids)
        else:
            pin(pids, BULK_CPUS)

    def place_processes(self) -> None:
        stats = process_stats()
        if self.placing == "pinned":
            pin(with_descendants(self.chain, stats), CHAIN_CPUS)
        self.place(with_descendants(self.bulk, stats))

    async def keep_backends_placed(self) -> None:
        """The Postgres backends serving the bulk worker (`pg_stat_activity.application_name` is `<name>-<pid>`,
        db/session.py) placed with it, again every REPLACE_SECONDS: its pool opens connections as the load grows."""
        connection = await asyncpg.connect(self.database_uri)
        try:
            while True:
                bulk = {str(pid) for pid in with_descendants(self.bulk)}
                rows = await connection.fetch("SELECT pid, application_name FROM pg_stat_activity")
                backends = {row["pid"] for row in rows if (row["application_name"] or "").rpartition("-")[2] in bulk}
                await asyncio.to_thread(self.place, backends)
                await asyncio.sleep(REPLACE_SECONDS)
        finally:
            await connection.close()

    def close(self) -> None:
        if self.limit is not None:
            self.limit.close()


class BulkLoad:
    """The migration and the 1C year sync, started through the API; their progress sampled while the webhook runs."""

    def __init__(self, admin: Api, max_url: str) -> None:
        self.admin = admin
        self.max = Emulator(max_url)
        self.jobs: dict[str, str] = {}  # what -> job id
        self.samples: list[dict[str, Any]] = []

    async def start(self, stack: Stack, documents: int, page_latency_ms: int) -> None:
        # bench crossposting's paced run: Telegram's history pages and downloads at a real network's pace.
        telegram = Emulator(stack.telegram_url)
        await telegram.fault(path="/rpc/messages.GetHistory", kind="latency", latency_ms=50)
        await telegram.fault(path="/rpc/upload.GetFile", kind="latency", latency_ms=100)
        await OneCEmulator(stack.onec_url).book(
            seed=3, documents=documents, contractors=800, pending_contractors=0, page_latency_ms=page_latency_ms
        )
        link_id = await link_for(self.admin, f"bench_{POSTS}", 9_001, MAX_TOKEN)
        migration = await self.admin.ok("POST", "/api/v1/migrations", 202, json={"link_id": link_id})
        self.jobs["migration"] = migration["job_id"]
        onec = await self.admin.ok("POST", "/api/v1/sync-1c/bank-transactions/sync-async", 202, json=YEAR)
        self.jobs["onec"] = onec["task_id"]

        # Both under way (past their first step) before the webhook phase starts.
        async def under_way() -> bool:
            return all(job["processed"] > 0 for job in (await self.sample()).values() if isinstance(job, dict))

        await eventually(under_way, "the bulk jobs to start", within=120, interval=0.5)

    async def sample(self) -> dict[str, Any]:
        row: dict[str, Any] = {"at": time.monotonic()}
        for what, job_id in self.jobs.items():
            snap = await self.admin.job(job_id)
            if snap["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"the {what} job {job_id} ended {snap['status']}: {snap['message']}")
            row[what] = {"status": snap["status"], "processed": snap["processed"], "total": snap["total"]}
        # The migration's progress moves a page (100 posts) at a time; its requests at MAX show every step.
        tokens = (await self.max.stats())["max"]["tokens"]
        row["migration"]["moved"] = tokens.get(MAX_TOKEN, {}).get("requests", 0)
        row["onec"]["moved"] = row["onec"]["processed"]
        self.samples.append(row)
        return row

    async def sample_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.sample()

    def report(self, first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
        """Each job's progress from just before the webhook phase to just after it, and whether it ran all along:
        still running at the end and advancing between every two samples."""
        out: dict[str, Any] = {}
        window = [s for s in self.samples if first["at"] <= s["at"] <= last["at"]]
        for what in self.jobs:
            longest, since = 0.0, first["at"]
            for a, b in zip(window, window[1:], strict=False):
                if b[what]["moved"] != a[what]["moved"]:
                    since = b["at"]
                else:
                    longest = max(longest, b["at"] - since)
            moved = last[what]["moved"] - first[what]["moved"]
            out[what] = {
                "before": first[what]["processed"],
                "after": last[what]["processed"],
                "total": last[what]["total"],
                "moved": moved,
                "moved_per_s": round(moved / (last["at"] - first["at"]), 1),
                "status_after": last[what]["status"],
                "samples": len(window),
                "longest_stall_s": round(longest, 1),
                "ran_through": last[what]["status"] not in JOB_CLOSED and moved > 0 and longest <= STALL_ALLOWED,
            }
        return out


async def measure_phase(stack: Stack, api_url: str, phase: Phase, args: argparse.Namespace) -> dict[str, Any]:
    if phase.placed is None:
        return await measure_load(stack, api_url, phase, args)
    bulk = BulkSide(stack, phase.placed, args.bulk_cpus)
    try:
        bulk.place_processes()
        placing = asyncio.create_task(bulk.keep_backends_placed())
        try:
            return await measure_load(stack, api_url, phase, args)
        finally:
            placing.cancel()
    finally:
        bulk.close()


async def measure_load(stack: Stack, api_url: str, phase: Phase, args: argparse.Namespace) -> dict[str, Any]:
    if not phase.bulk_load:
        started, cpu = time.monotonic(), cpu_seconds(stack)
        webhook = await measure_webhook(stack, api_url, args.rate, args.seconds)
        return {"webhook": webhook, "cpu": cpu_used(cpu, cpu_seconds(stack), time.monotonic() - started)}
    admin = await Api.login(api_url, "admin", ADMIN_PASSWORD)
    try:
        load = BulkLoad(admin, stack.max_url)
        await load.start(stack, onec_documents(args), args.onec_page_latency_ms)
        first, cpu = await load.sample(), cpu_seconds(stack)
        sampler = asyncio.create_task(load.sample_every(SAMPLE_SECONDS))
        try:
            webhook = await measure_webhook(stack, api_url, args.rate, args.seconds)
        finally:
            sampler.cancel()
        last, cpu_after = await load.sample(), cpu_seconds(stack)
        return {
            "webhook": webhook,
            "bulk": load.report(first, last),
            "cpu": cpu_used(cpu, cpu_after, last["at"] - first["at"]),
        }
    finally:
        await admin.close()


def onec_documents(args: argparse.Namespace) -> int:
    if args.onec_documents:
        return args.onec_documents
    # The phase is the burst, the drain after it and the listener's wait: room for all of them.
    return min(int(ONEC_DOCUMENTS_PER_SECOND * (args.seconds + 30)), ONEC_MAX_DOCUMENTS)


def run_phase(phase: Phase, args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n--- {phase.name}: {phase.label} (load average {os.getloadavg()[0]:.2f}) ---", flush=True)
    load_before = os.getloadavg()
    with bench_stack() as stack:
        api_url = stack.start_api("api", task_queue=TASK_QUEUE, env=ENV)
        for worker in phase.workers:
            start_worker(stack, worker)
        outcome = asyncio.run(measure_phase(stack, api_url, phase, args))
    outcome["loadavg_before"] = load_before
    w = outcome["webhook"]
    line = f"  webhook p99 {w['webhook_p99_ms']} ms, to scored p50 {w['to_scored_p50_ms']} ms"
    for what, p in outcome.get("bulk", {}).items():
        line += f"; {what} {p['before']} -> {p['after']} of {p['total']} ({p['status_after']})"
    print(line, flush=True)
    print(f"  cores busy: {outcome['cpu']['cores']}", flush=True)
    return outcome


def median(values: list[float], digits: int = 1) -> float:
    return round(statistics.median(values), digits)


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench queue_split", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="updates per second (default 200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the webhook burst (default 60)")
    parser.add_argument("--runs", type=int, default=1, help="every phase this many times, interleaved; medians")
    parser.add_argument(
        "--phases",
        default=DEFAULT_PHASES,
        help=f"comma-separated, from {', '.join(PHASES)} (default {DEFAULT_PHASES}; split-niced: bulk worker niced; "
        "split-pinned: the chain and the bulk worker on a core each; split-limited: the bulk side held to --bulk-cpus)",
    )
    parser.add_argument(
        "--onec-documents",
        type=int,
        default=0,
        help=f"the 1C book's documents (default {ONEC_DOCUMENTS_PER_SECOND:,} per second of the phase, at most "
        f"{ONEC_MAX_DOCUMENTS:,}: still syncing when the phase ends)",
    )
    parser.add_argument(
        "--onec-page-latency-ms",
        type=int,
        default=ONEC_PAGE_LATENCY_MS,
        help=f"how long the 1C emulator takes per page of 1,000 documents (default {ONEC_PAGE_LATENCY_MS}); a "
        "slower 1C is a lighter bulk load, one the host has the CPU for",
    )
    parser.add_argument(
        "--bulk-cpus",
        type=float,
        default=BULK_CPU_LIMIT,
        help=f"split-limited: the cores the bulk side may use together (default {BULK_CPU_LIMIT:g})",
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.phases.split(",") if name.strip()]
    unknown = [name for name in names if name not in PHASES]
    if unknown or not names:
        parser.error(f"unknown phase {', '.join(unknown) or '(none)'}: choose from {', '.join(PHASES)}")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for run in range(args.runs):
        if args.runs > 1:
            print(f"\n=== run {run + 1} of {args.runs} ===", flush=True)
        for name in names:
            runs[name].append(run_phase(PHASES[name], args))
    return report(runs, args)


def report(runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace) -> dict[str, Any]:
    medians = {
        name: {
            key: median([o["webhook"][key] for o in outcomes])
            for key in ("webhook_p50_ms", "webhook_p99_ms", "webhook_max_ms", "to_scored_p50_ms", "to_scored_p99_ms")
        }
        for name, outcomes in runs.items()
    }
    base = medians.get("alone")

    def against(name: str, key: str) -> str:
        return f"x{medians[name][key] / base[key]:.2f}" if base and base[key] else "-"

    print(f"\nmedians over {args.runs} run(s), {args.rate:g} updates/s for {args.seconds:g} s; x = against alone")
    print(table(
        ["phase", "webhook p50 ms", "p99 ms", "max ms", "p99 x", "to scored p50 ms", "p99 ms", "p50 x", "failed"],
        [[name, m["webhook_p50_ms"], m["webhook_p99_ms"], m["webhook_max_ms"], against(name, "webhook_p99_ms"),
          m["to_scored_p50_ms"], m["to_scored_p99_ms"], against(name, "to_scored_p50_ms"),
          sum(o["webhook"]["failed_answers"] for o in runs[name])] for name, m in medians.items()],
    ))  # fmt: skip
    bulk_rows = [
        [name, run + 1, what, p["before"], p["after"], p["total"], p["moved"], p["moved_per_s"], p["status_after"],
         p["longest_stall_s"], p["ran_through"]]
        for name, outcomes in runs.items()
        for run, outcome in enumerate(outcomes)
        for what, p in outcome.get("bulk", {}).items()
    ]  # fmt: skip
    if bulk_rows:
        print("\nthe bulk jobs across the webhook phase: processed before -> after; moved: the migration's requests at")
        print(f"MAX, the 1C sync's documents; stalled: the longest time it did not move (at most {STALL_ALLOWED:g} s)")
        print(table(["phase", "run", "job", "before", "after", "total", "moved", "per s", "status after", "stalled s",
                     "ran through"], bulk_rows))  # fmt: skip
    parts = list(dict.fromkeys(part for outcomes in runs.values() for o in outcomes for part in o["cpu"]["cores"]))
    print("\ncores kept busy during the webhook phase (medians; machine: all of it, others: not ours)")
    print(table(["phase", *parts], [
        [name, *(median([o["cpu"]["cores"].get(part, 0.0) for o in outcomes], 2) for part in parts)]
        for name, outcomes in runs.items()
    ]))  # fmt: skip
    targets: dict[str, str] = {}
    met: dict[str, bool] = {}
    measured: dict[str, str] = {}
    for name in ("split", "split-niced", "split-pinned", "split-limited"):
        for key, what in (("webhook_p99_ms", "webhook_p99"), ("to_scored_p50_ms", "scored_p50")):
            if base is None or name not in medians:
                continue  # no baseline, or this phase not run: nothing to hold it to
            target = f"{what}.{name}"
            limit = base[key] * (1 + TOLERANCE)
            targets[target] = f"<= {limit:.1f} ms (alone {base[key]} ms + {TOLERANCE:.0%})"
            met[target] = medians[name][key] <= limit
            measured[target] = f"{medians[name][key]} ms ({against(name, key)})"
    loaded = [o for outcomes in runs.values() for o in outcomes if "bulk" in o]
    if loaded:
        targets["bulk_ran_through"] = (
            f"migration and 1C running through each loaded phase ({STALL_ALLOWED:g} s stall at most)"
        )
        met["bulk_ran_through"] = all(p["ran_through"] for o in loaded for p in o["bulk"].values())
        measured["bulk_ran_through"] = "yes" if met["bulk_ran_through"] else "no"
    targets["every_update_answered"] = "0 failed answers in every phase"
    failed = sum(o["webhook"]["failed_answers"] for outcomes in runs.values() for o in outcomes)
    met["every_update_answered"] = failed == 0
    measured["every_update_answered"] = f"{failed} failed"
    print_targets(targets, met, measured)
    config = {**vars(args), "onec_documents": onec_documents(args), "posts": POSTS}
    path = write_results(NAME, config, {"medians": medians, "runs": runs}, targets, met)
    print(f"wrote {path}")
    return {"met": met, "medians": medians}
