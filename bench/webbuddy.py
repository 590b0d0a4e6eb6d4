"""WebBuddy create → done: latency on an idle stack and sustained throughput, LLM emulator at zero latency.

The stack is the tests' (devstack/stack.py): the API under uvicorn and `--workers` worker.py processes on one task
queue, with the reconcile schedule at its defaults (every 30 s, 30 s grace). Everything goes through the
API as a WebBuddy client would: log in as admin, create a project, `POST /api/queries/`.

- idle: `--idle` queries one at a time, each polled (`GET /api/queries/{id}/` every 10 ms) until done.
  Create-to-done is `query_finished - query_created` in the database, and as the client saw it.
- sustained: open-loop arrivals at a fixed rate for `--seconds` (each POST its own task over a pool of
  `--clients` keep-alive connections, so a slow POST does not hold the next one back); the database is sampled
  every second for the backlog (queued + in progress). A rate is held when no POST failed, every 10 s window
  after the first completes at least 90% of the arrival rate, and the backlog when arrivals stop is under
  2 s of arrivals. The next rate of `--rates` runs only if this one held.
- where the time goes: each phase of a query from its workflow history (API to workflow start, workflow task
  waits and runs — the claim and finish local activities run inside them — the answer activity), for the
  idle queries and a sample under load, and the CPU each process used during the sustained window.
- history: events per ProcessQuery workflow (a sample) and per ReconcileQueries run.

    python -m bench webbuddy [--workers 1] [--rates 20,25,30] [--seconds 120] [--idle 50] [--clients 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.webbuddy import query_job_id
from bench.common import (
    bench_stack,
    percentile,
    print_targets,
    stack_client,
    stack_settings,
    summary,
    table,
    write_results,
)
from db.session import make_engine
from devstack import processes as ps
from devstack.clients import Emulator
from devstack.stack import ADMIN_PASSWORD, Stack

NAME = "webbuddy"
TASK_QUEUE = "bench-webbuddy"
TARGET_RATE = 20.0  # queries/s sustained
TARGET_SECONDS = 120.0
TARGET_IDLE_P50_S = 1.0
WINDOW_S = 10.0
POLL_S = 0.01
HISTORY_SAMPLE = 20
DRAIN_WITHIN_S = 180.0


# --------------------------------------------------------------------------- the API, the database


async def login(base_url: str, connections: int) -> httpx.AsyncClient:
    """The admin's client: up to `connections` keep-alive connections, shared by concurrent requests."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/api/login/", json={"username": "admin", "password": ADMIN_PASSWORD})
        response.raise_for_status()
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {response.json()['access']}"},
        timeout=60,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def create_query(http: httpx.AsyncClient, project: int, n: int) -> int:
    response = await http.post("/api/queries/", json={"project": project, "query_text": f"bench query {n}"})
    if response.status_code != 201:
        raise RuntimeError(f"POST /api/queries/: {response.status_code} {response.text[:300]}")
    return response.json()["id"]


async def query_times(engine: AsyncEngine, ids: list[int]) -> dict[int, dict[str, Any]]:
    """id -> status and the row's timestamps as Unix seconds (the database and this process share a clock)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT id, status, extract(epoch FROM query_created) AS created,"
                " extract(epoch FROM query_finished) AS finished"
                " FROM query WHERE id = ANY(:ids)"
            ),
            {"ids": ids},
        )
        return {
            r.id: {
                "status": r.status,
                "created": float(r.created),
                "finished": None if r.finished is None else float(r.finished),
            }
            for r in rows
        }


async def backlog(engine: AsyncEngine, project: int) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT status, count(*) AS n FROM query WHERE project_id = :p GROUP BY status"), {"p": project}
        )
        counts = {r.status: r.n for r in rows}
    return {s: counts.get(s, 0) for s in ("queued", "in_progress", "done", "failed")}


def create_to_done(times: dict[int, dict[str, Any]]) -> list[float]:
    return [t["finished"] - t["created"] for t in times.values() if t["status"] == "done"]


# --------------------------------------------------------------------------- CPU per process


def _cpu_ticks(pid: int, children: bool = False) -> int:
    """utime + stime of `pid` (with `children`: plus those of its reaped children), in clock ticks; 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = int(fields[11]) + int(fields[12])
    return ticks + int(fields[13]) + int(fields[14]) if children else ticks


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


@dataclass
class CpuMeter:
    """CPU seconds each part of the stack used between `start()` and `stop()` (postgres: every backend)."""

    parts: dict[str, ps.Proc | int]
    postmaster: int
    before: dict[str, int] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _sample(self) -> dict[str, int]:
        ticks = {name: _cpu_ticks(p if isinstance(p, int) else p.pid) for name, p in self.parts.items()}
        ticks["postgres"] = _cpu_ticks(self.postmaster, children=True) + sum(
            _cpu_ticks(pid) for pid in _children(self.postmaster)
        )
        return ticks

    def start(self) -> None:
        self.before, self._t0 = self._sample(), time.perf_counter()

    def stop(self) -> dict[str, float]:
        after, wall = self._sample(), time.perf_counter() - self._t0
        hz = os.sysconf("SC_CLK_TCK")
        self.used = {name: (after[name] - self.before[name]) / hz / wall for name in after}
        return self.used


# --------------------------------------------------------------------------- where the time goes


PHASES = ("api_to_start", "wft1_wait", "wft1_run", "act_wait", "act_run", "wft2_wait", "wft2_run", "close")


async def workflow_phases(client: Client, query_id: int, created: float, finished: float | None) -> dict[str, Any]:
    """One ProcessQuery's history cut into phases (seconds), plus its event count.

    wft1 runs the claim local activity, act is the answer activity, wft2 runs the finish local activity
    (query_finished is written inside it); close is query_finished to the workflow's completion.
    """
    events = (await client.get_workflow_handle(query_job_id(query_id)).fetch_history()).events
    t = {e.event_id: e.event_time.ToNanoseconds() / 1e9 for e in events}
    wfts, activity = [], {}
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            a = e.workflow_task_completed_event_attributes
            started = a.started_event_id
            wfts.append((t[a.scheduled_event_id], t[started], t[e.event_id]))
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            a = e.activity_task_completed_event_attributes
            activity = {"scheduled": t[a.scheduled_event_id], "started": t[a.started_event_id], "done": t[e.event_id]}
    phases: dict[str, Any] = dict.fromkeys(PHASES, float("nan"))
    phases["events"] = len(events)
    phases["event_types"] = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in events]
    phases["workflow_tasks"] = len(wfts)
    if len(wfts) >= 2 and activity:
        (s1, b1, e1), (s2, b2, e2) = wfts[0], wfts[-1]
        phases.update(
            api_to_start=t[events[0].event_id] - created,
            wft1_wait=b1 - s1,
            wft1_run=e1 - b1,
            act_wait=activity["started"] - activity["scheduled"],
            act_run=activity["done"] - activity["started"],
            wft2_wait=b2 - s2,
            wft2_run=(finished or e2) - b2,
            close=t[events[-1].event_id] - (finished or e2),
        )
    return phases


async def phases_of(client: Client, times: dict[int, dict[str, Any]], ids: list[int]) -> list[dict[str, Any]]:
    return [await workflow_phases(client, i, times[i]["created"], times[i]["finished"]) for i in ids]


def median_phases(rows: list[dict[str, Any]]) -> dict[str, float]:
    return {k: statistics.median([r[k] for r in rows if r[k] == r[k]] or [float("nan")]) for k in PHASES}


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


async def reconcile_runs(client: Client) -> list[dict[str, Any]]:
    """Every closed ReconcileQueries run so far: its events, duration and what it did."""
    runs = []
    async for execution in client.list_workflows("WorkflowType = 'ReconcileQueries' AND ExecutionStatus != 'Running'"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        events = (await handle.fetch_history()).events
        result = await handle.result()
        runs.append(
            {
                "events": len(events),
                "seconds": (events[-1].event_time.ToNanoseconds() - events[0].event_time.ToNanoseconds()) / 1e9,
                "requeued": len(result["requeued"]),
                "ensured": len(result["ensured"]),
            }
        )
    return runs


# --------------------------------------------------------------------------- idle


async def idle_latency(http: httpx.AsyncClient, engine: AsyncEngine, project: int, n: int) -> dict[str, Any]:
    """`n` queries one at a time: each created, then polled until done."""
    ids, seen, posts = [], [], []
    for i in range(n):
        t0 = time.perf_counter()
        query_id = await create_query(http, project, i)
        posts.append(time.perf_counter() - t0)
        while True:
            response = await http.get(f"/api/queries/{query_id}/")
            if response.json()["status"] in ("done", "failed"):
                break
            await asyncio.sleep(POLL_S)
        seen.append(time.perf_counter() - t0)
        ids.append(query_id)
    times = await query_times(engine, ids)
    failed = [i for i in ids if times[i]["status"] != "done"]
    if failed:
        raise RuntimeError(f"idle queries not done: {failed[:10]}")
    return {"ids": ids, "times": times, "db": create_to_done(times), "client": seen, "post": posts}


# --------------------------------------------------------------------------- sustained


@dataclass
class Post:
    sent: float  # seconds after the first arrival
    latency: float = float("nan")
    query_id: int | None = None
    error: str | None = None


async def sustained(
    http: httpx.AsyncClient, engine: AsyncEngine, meter: CpuMeter, project: int, rate: float, seconds: float
) -> dict[str, Any]:
    """Open-loop arrivals at `rate` for `seconds`; then wait for the backlog to drain."""
    posts: list[Post] = []
    samples: list[tuple[float, dict[str, int]]] = []
    t0, wall0 = time.perf_counter(), time.time()
    arriving = True

    async def post(n: int) -> None:
        record = Post(sent=time.perf_counter() - t0)
        posts.append(record)
        try:
            record.query_id = await create_query(http, project, n)
        except Exception as exc:
            record.error = f"{type(exc).__name__}: {exc}"[:200]
        record.latency = time.perf_counter() - t0 - record.sent

    async def sample() -> None:
        while True:
            counts = await backlog(engine, project)
            samples.append((time.perf_counter() - t0, counts))
            if not arriving and counts["queued"] + counts["in_progress"] == 0:
                return
            if time.perf_counter() - t0 > seconds + DRAIN_WITHIN_S:
                return
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    meter.start()
    tasks = []
    for n in range(round(rate * seconds)):
        delay = t0 + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(n)))
    arrivals_s = time.perf_counter() - t0
    at_end = await backlog(engine, project)
    await asyncio.gather(*tasks)
    cpu = meter.stop()
    arriving = False
    await sampler
    drained = samples[-1][1]["queued"] + samples[-1][1]["in_progress"] == 0
    drain_s = samples[-1][0] - seconds if drained else float("nan")

    ids = [p.query_id for p in posts if p.query_id is not None]
    times = await query_times(engine, ids)
    done = [t for t in times.values() if t["status"] == "done"]
    windows = []
    for k in range(int(seconds // WINDOW_S)):
        lo, hi = wall0 + k * WINDOW_S, wall0 + (k + 1) * WINDOW_S
        at = [c for s, c in samples if s <= (k + 1) * WINDOW_S]
        windows.append(
            {
                "window_s": f"{k * WINDOW_S:.0f}-{(k + 1) * WINDOW_S:.0f}",
                "created_per_s": sum(lo <= t["created"] < hi for t in times.values()) / WINDOW_S,
                "completed_per_s": sum(lo <= t["finished"] < hi for t in done) / WINDOW_S,
                "backlog": (at[-1]["queued"] + at[-1]["in_progress"]) if at else 0,
            }
        )
    created = [t["created"] for t in times.values()]
    in_window = [t for t in done if t["finished"] < wall0 + seconds]
    backlogs = [c["queued"] + c["in_progress"] for s, c in samples if s <= seconds]
    errors = [p.error for p in posts if p.error]
    end_backlog = at_end["queued"] + at_end["in_progress"]
    held = (
        not errors
        and all(w["completed_per_s"] >= 0.9 * rate for w in windows[1:])
        and end_backlog <= 2 * rate
        and drained
    )
    return {
        "rate": rate,
        "seconds": seconds,
        "queries": len(posts),
        "arrivals_per_s": len(posts) / arrivals_s,
        "created_per_s": (len(created) - 1) / (max(created) - min(created)) if len(created) > 1 else float("nan"),
        "completed_per_s": len(in_window) / seconds,
        "min_window_completed_per_s": min(w["completed_per_s"] for w in windows[1:]),
        "backlog_max": max(backlogs, default=0),
        "backlog_end": end_backlog,
        "backlog_mean": statistics.fmean(backlogs) if backlogs else 0.0,
        "drain_s": drain_s,
        "done": len(done),
        "failed": sum(t["status"] == "failed" for t in times.values()),
        "create_to_done_s": summary(create_to_done(times)) if done else {},
        "post_ms": summary([p.latency * 1000 for p in posts if p.error is None]),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "held": held,
        "windows": windows,
        "backlog_samples": [(round(s, 1), c["queued"], c["in_progress"]) for s, c in samples],
        "cpu_cores": cpu,
        "_ids": ids,
        "_times": times,
    }


# --------------------------------------------------------------------------- the bench


async def run_workers(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    with bench_stack() as stack:
        base_url = stack.start_api("api", task_queue=TASK_QUEUE)
        procs = [stack.start_worker(f"worker-{i}", task_queue=TASK_QUEUE) for i in range(workers)]
        await Emulator(stack.openai_url).reset()  # zero LLM latency, no faults
        engine = make_engine(stack_settings(stack, TASK_QUEUE))
        client = await stack_client(stack)
        http = await login(base_url, args.clients)
        try:
            return await measure(args, stack, workers, procs, http, engine, client)
        finally:
            await http.aclose()
            await engine.dispose()


async def measure(
    args: argparse.Namespace,
    stack: Stack,
    workers: int,
    procs: list[ps.Proc],
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    client: Client,
) -> dict[str, Any]:
    api = next(p for p in stack.procs if p.name == "api")
    parts: dict[str, ps.Proc | int] = {"api": api, "temporal": stack.temporal, "llm emulator": stack.openai}
    parts.update({f"worker {i + 1}": p for i, p in enumerate(procs)})
    parts["bench (client)"] = os.getpid()
    meter = CpuMeter(parts, stack.pg.pid)

    project = (await http.post("/api/projects/", json={"name": "bench"})).json()["id"]
    print(f"  [{workers} worker(s)] warm-up: 10 queries", flush=True)
    await idle_latency(http, engine, project, 10)
    idle = await idle_latency(http, engine, project, args.idle)
    idle_phases = await phases_of(client, idle["times"], idle["ids"])
    print(
        f"  [{workers} worker(s)] idle: {args.idle} queries, create-to-done p50 {percentile(idle['db'], 50):.3f}s",
        flush=True,
    )

    runs = []
    for rate in args.rates:
        project = (await http.post("/api/projects/", json={"name": f"bench {rate:g}/s"})).json()["id"]
        print(f"  [{workers} worker(s)] {rate:g} queries/s for {args.seconds:g}s ...", flush=True)
        run = await sustained(http, engine, meter, project, rate, args.seconds)
        ids = run.pop("_ids")
        times = run.pop("_times")
        step = max(1, len(ids) // HISTORY_SAMPLE)
        sample = [i for i in ids[::step] if times[i]["status"] == "done"][:HISTORY_SAMPLE]
        run["phases"] = await phases_of(client, times, sample)
        runs.append(run)
        c2d = run["create_to_done_s"]
        print(
            f"  [{workers} worker(s)] {rate:g}/s: completed {run['completed_per_s']:.1f}/s "
            f"(slowest window {run['min_window_completed_per_s']:.1f}/s), backlog max {run['backlog_max']} "
            f"end {run['backlog_end']}, create-to-done p50 {c2d.get('p50', float('nan')):.2f}s "
            f"p99 {c2d.get('p99', float('nan')):.2f}s, errors {run['errors']}: {'held' if run['held'] else 'NOT held'}",
            flush=True,
        )
        if not run["held"]:
            break

    reconcile = await reconcile_runs(client)
    sampled = [*idle_phases, *(r for run in runs for r in run["phases"])]
    events = [r["events"] for r in sampled]
    example = idle_phases[0]["event_types"]
    for r in sampled:
        del r["event_types"]
    return {
        "workers": workers,
        "idle": {
            "create_to_done_db_s": summary(idle["db"]),
            "create_to_done_client_s": summary(idle["client"]),
            "post_ms": summary([s * 1000 for s in idle["post"]]),
            "phases": idle_phases,
        },
        "runs": runs,
        "history": {
            "process_query_events": spread(events),
            "process_query_sampled": len(events),
            "process_query_example": example,
            "reconcile_runs": len(reconcile),
            "reconcile_events": spread([r["events"] for r in reconcile]) if reconcile else {},
            "reconcile_seconds": spread([r["seconds"] for r in reconcile]) if reconcile else {},
            "reconcile_ensured": sum(r["ensured"] for r in reconcile),
            "reconcile_requeued": sum(r["requeued"] for r in reconcile),
        },
    }


def _rate(run: dict[str, Any]) -> float | int:
    return int(run["rate"]) if float(run["rate"]).is_integer() else run["rate"]


def print_tables(results: list[dict[str, Any]]) -> None:
    for r in results:
        w, idle = r["workers"], r["idle"]
        print(f"\n{w} worker(s), idle stack: {idle['create_to_done_db_s']['n']} queries one at a time (seconds):")
        rows = [
            ("create → done (database)", idle["create_to_done_db_s"]),
            ("create → done (client, 10 ms polls)", idle["create_to_done_client_s"]),
            ("POST /api/queries/", {k: v / 1000 if k != "n" else v for k, v in idle["post_ms"].items()}),
        ]
        print(
            table(
                ["", "n", "p50", "p90", "p99", "max", "mean"],
                [(name, s["n"], s["p50"], s["p90"], s["p99"], s["max"], s["mean"]) for name, s in rows],
            )
        )

        print(f"\n{w} worker(s), sustained open-loop arrivals (c2d = create to done, from the database):")
        headers = ["rate/s", "created/s", "completed/s", "slowest 10 s", "backlog mean", "max", "at end", "drain s"]
        headers += ["c2d p50 s", "p90", "p99", "POST p50 ms", "p99", "errors", "held"]
        rows = []
        for run in r["runs"]:
            c2d = run["create_to_done_s"]
            rows.append(
                (_rate(run), run["created_per_s"], run["completed_per_s"], run["min_window_completed_per_s"],
                 run["backlog_mean"], run["backlog_max"], run["backlog_end"], run["drain_s"], c2d.get("p50"),
                 c2d.get("p90"), c2d.get("p99"), run["post_ms"]["p50"], run["post_ms"]["p99"], run["errors"],
                 run["held"])
            )  # fmt: skip
        print(table(headers, rows))
        for run in r["runs"]:
            print(f"\n{w} worker(s), {run['rate']:g}/s, per 10 s window (backlog = queued + in progress at its end):")
            print(
                table(
                    ["window s", "created/s", "completed/s", "backlog"],
                    [(x["window_s"], x["created_per_s"], x["completed_per_s"], x["backlog"]) for x in run["windows"]],
                )
            )

        print(f"\n{w} worker(s), where a query's time goes (medians, ms; wft = workflow task, act = answer activity):")
        rows = [("idle", len(idle["phases"]), median_phases(idle["phases"]))]
        rows += [(f"{run['rate']:g}/s", len(run["phases"]), median_phases(run["phases"])) for run in r["runs"]]
        print(
            table(
                ["load", "sampled", *PHASES, "sum of medians"],
                [(name, n, *(m[k] * 1000 for k in PHASES), sum(m.values()) * 1000) for name, n, m in rows],
            )
        )

        print(f"\n{w} worker(s), CPU during the sustained window (cores; the machine has {os.cpu_count()}):")
        names = list(r["runs"][0]["cpu_cores"]) if r["runs"] else []
        print(
            table(
                ["rate/s", *names, "total"],
                [
                    (_rate(run), *(run["cpu_cores"][n] for n in names), sum(run["cpu_cores"].values()))
                    for run in r["runs"]
                ],
            )
        )

        h = r["history"]
        print(f"\n{w} worker(s), history events (min / median / max):")
        span = "{min:g} / {median:g} / {max:g}"
        rows = [("ProcessQuery", h["process_query_sampled"], span.format(**h["process_query_events"]), "-")]
        if h["reconcile_runs"]:
            rows.append(
                (
                    "ReconcileQueries",
                    h["reconcile_runs"],
                    span.format(**h["reconcile_events"]),
                    f"{h['reconcile_seconds']['median']:.2f} s; ensured {h['reconcile_ensured']}, "
                    f"requeued {h['reconcile_requeued']}",
                )
            )
        print(table(["workflow", "runs", "events", "notes"], rows))
        print(f"one query's history: {', '.join(h['process_query_example'])}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results = [await run_workers(args, w) for w in args.workers]
    print_tables(results)

    first = results[0]
    at_target = [run for r in results for run in r["runs"] if run["rate"] >= TARGET_RATE and run["held"]]
    best_rate = max((run["rate"] for run in at_target), default=0.0)
    idle_p50 = first["idle"]["create_to_done_db_s"]["p50"]
    targets = {
        "sustained_queries_per_s": f">= {TARGET_RATE:g}/s for {TARGET_SECONDS:g} s",
        "idle_create_to_done_p50_s": f"<= {TARGET_IDLE_P50_S:g} s",
    }
    met = {
        "sustained_queries_per_s": bool(at_target) and args.seconds >= TARGET_SECONDS,
        "idle_create_to_done_p50_s": idle_p50 <= TARGET_IDLE_P50_S,
    }
    held_with = ", ".join(f"{run['rate']:g}/s x{r['workers']}" for r in results for run in r["runs"] if run["held"])
    print_targets(
        targets,
        met,
        {
            "sustained_queries_per_s": f"held: {held_with or 'none'} (best {best_rate:g}/s)",
            "idle_create_to_done_p50_s": f"{idle_p50:.3f} s ({first['workers']} worker(s))",
        },
    )
    path = write_results(
        NAME,
        {
            "workers": args.workers,
            "rates": args.rates,
            "seconds": args.seconds,
            "idle_queries": args.idle,
            "clients": args.clients,
            "llm_latency_ms": 0,
            "reconcile": "stack defaults: every 30 s, grace 30 s",
            "server": "uvicorn, one process (devstack/stack.py start_api); worker.py processes",
        },
        {"by_workers": results},
        {
            "sustained_queries_per_s": TARGET_RATE,
            "sustained_seconds": TARGET_SECONDS,
            "idle_create_to_done_p50_s": TARGET_IDLE_P50_S,
        },
        met,
    )
    print(f"wrote {path}")
    return {"met": met}


def parser() -> argparse.ArgumentParser:
    floats = lambda s: [float(x) for x in s.split(",")]  # noqa: E731
    p = argparse.ArgumentParser(prog="python -m bench webbuddy", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1], help="e.g. 1,2")
    p.add_argument("--rates", type=floats, default=[20.0, 25.0, 30.0], help="queries/s, in turn while held")
    p.add_argument("--seconds", type=float, default=TARGET_SECONDS, help="arrivals per rate")
    p.add_argument("--idle", type=int, default=50, help="queries one at a time on the idle stack")
    p.add_argument("--clients", type=int, default=32, help="keep-alive connections the POSTs share")
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    main()
