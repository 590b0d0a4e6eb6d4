"""API latency on the embedded stack: `GET /api/v1/jobs/{id}` during a running job, `POST /api/v1/news/discover`.

The stack is the tests' (devstack/stack.py): worker.py as its own process, the API under uvicorn, the emulators.
A news discovery over 20 sources is kept running by 2 s of LLM latency on the OpenAI emulator, so every GET
is a live progress query answered by the worker through Temporal (concurrent GETs of the job share one
query: `Jobs.snapshot` coalesces them). Latency is measured in this process, around each request, over
keep-alive connections (one httpx.AsyncClient per client).

To show where the time goes, the same work is also timed without the API: the progress query and
`workflows.start.start_job` straight from this process, and the POSTs once more with the worker stopped
(so no started job competes for the CPU). Every started job is cancelled through the API afterwards.

    python -m bench api [--gets 1000] [--concurrency 4] [--posts 300]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from contextlib import suppress
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError

from bench.common import bench_stack, print_targets, stack_client, summary, table, write_results
from devstack.clients import Api, Emulator, eventually
from devstack.stack import ADMIN_PASSWORD
from settings import Settings
from workflows.news import JOB_TYPE as NEWS_JOB_TYPE
from workflows.news import DiscoverNewsInput, NewsDiscoveryWorkflow, SourceRef
from workflows.start import JobRequest, start_job

NAME = "api"
TARGET_GET_P99_MS = 25.0
TARGET_POST_P99_MS = 50.0
LLM_LATENCY_MS = 2000
SOURCES = 20
TASK_QUEUE = "bench-api"
PACED_RATE = 10.0  # POSTs per second in the paced run


async def timed(http: httpx.AsyncClient, method: str, url: str, expect: int, **kwargs) -> float:
    started = time.perf_counter()
    response = await http.request(method, url, **kwargs)
    elapsed = time.perf_counter() - started
    if response.status_code != expect:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return elapsed * 1000


async def sequential_gets(http: httpx.AsyncClient, job_id: str, n: int) -> tuple[list[float], float]:
    started = time.perf_counter()
    latencies = [await timed(http, "GET", f"/api/v1/jobs/{job_id}", 200) for _ in range(n)]
    return latencies, time.perf_counter() - started


async def concurrent_gets(base_url: str, token: str, job_id: str, clients: int, n: int) -> tuple[list[float], float]:
    """`clients` clients, each with its own keep-alive connection, `n` requests in all."""
    headers = {"Authorization": f"Bearer {token}"}
    https = [httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) for _ in range(clients)]
    try:
        for http in https:  # open every connection before the clock starts
            await timed(http, "GET", f"/api/v1/jobs/{job_id}", 200)
        started = time.perf_counter()
        parts = await asyncio.gather(*(sequential_gets(http, job_id, n // clients) for http in https))
        wall = time.perf_counter() - started
    finally:
        for http in https:
            await http.aclose()
    return [ms for latencies, _ in parts for ms in latencies], wall


async def make_sources(admin: Api, feeds_url: str, count: int) -> list[int]:
    ids = []
    for i in range(count):
        body = {"name": f"Bench source {i}", "feed_url": f"{feeds_url}/feeds/bench{i}.rss?items=30", "topic": "tech"}
        ids.append((await admin.ok("POST", "/api/v1/news/sources", 201, json=body))["id"])
    return ids


async def post_many(
    http: httpx.AsyncClient, body: dict, n: int, rate: float | None = None
) -> tuple[list[float], list[str], float]:
    """`n` sequential `POST /api/v1/news/discover`, back to back or at `rate` per second (latency when the
    bench itself does not saturate the machine): latencies in ms, the job ids, the wall time."""
    latencies, job_ids = [], []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        response = await http.post("/api/v1/news/discover", json=body)
        latencies.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 202:
            raise RuntimeError(f"POST /api/v1/news/discover: {response.status_code} {response.text[:300]}")
        job_ids.append(response.json()["job_id"])
        if rate:
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - t0)))
    return latencies, job_ids, time.perf_counter() - started


async def direct_queries(client: Client, job_id: str, n: int) -> list[float]:
    """The progress query from here, no API in between: the Temporal share of a GET."""
    handle = client.get_workflow_handle(job_id)
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        await handle.query("progress", reject_condition=QueryRejectCondition.NOT_OPEN)
        latencies.append((time.perf_counter() - t0) * 1000)
    return latencies


async def direct_starts(client: Client, settings: Settings, source: SourceRef, n: int) -> tuple[list[float], list[str]]:
    """Jobs started from here, as the API starts them (`workflows.start.start_job`): the Temporal share of a POST."""
    latencies, job_ids = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        job = JobRequest(
            NewsDiscoveryWorkflow.run,
            DiscoverNewsInput(sources=[source], max_parallel=1),
            NEWS_JOB_TYPE,
            "admin",
            f"news-discovery-bench-{uuid.uuid4().hex[:12]}",
        )
        handle = await start_job(client, settings, job)
        latencies.append((time.perf_counter() - t0) * 1000)
        job_ids.append(handle.id)
    return latencies, job_ids


async def get_phases(results: dict[str, Any], http: httpx.AsyncClient, url: str, token: str, job_id: str, args) -> None:
    seq, wall = await sequential_gets(http, job_id, args.gets)
    results["get_sequential"] = {**summary(seq), "wall_s": wall, "req_per_s": len(seq) / wall}
    print(f"  {args.gets} sequential GETs in {wall:.1f}s", flush=True)
    conc, wall = await concurrent_gets(url, token, job_id, args.concurrency, args.gets)
    results["get_concurrent"] = {**summary(conc), "wall_s": wall, "req_per_s": len(conc) / wall}
    print(f"  {len(conc)} GETs from {args.concurrency} clients in {wall:.1f}s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with bench_stack() as stack:
        worker = stack.start_worker(task_queue=TASK_QUEUE)
        base_url = stack.start_api(task_queue=TASK_QUEUE)
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.post("/api/login/", json={"username": "admin", "password": ADMIN_PASSWORD})
            response.raise_for_status()
            token = response.json()["access"]
        admin = Api(base_url, token)
        client = await stack_client(stack)
        try:
            await Emulator(stack.openai_url).fault(
                path="/v1/chat/completions", kind="latency", latency_ms=LLM_LATENCY_MS
            )
            source_ids = await make_sources(admin, stack.feeds_url, SOURCES)
            body = {"source_ids": source_ids, "max_parallel": 2}
            job_id = (await admin.ok("POST", "/api/v1/news/discover", 202, json=body))["job_id"]

            async def running() -> bool:
                return (await admin.job(job_id))["status"] == "running"

            await eventually(running, "the discovery job to run", within=30)
            for _ in range(50):  # warm-up: connection, the type/owner cache, the worker's cached workflow
                await timed(admin.http, "GET", f"/api/v1/jobs/{job_id}", 200)

            await get_phases(results, admin.http, base_url, token, job_id, args)
            query = await direct_queries(client, job_id, args.gets)
            results["query_direct"] = summary(query)
            during = await admin.job(job_id)
            results["job_during_gets"] = {k: during[k] for k in ("status", "processed", "total")}
            print(f"  job {job_id} still {during['status']}: {during['processed']}/{during['total']} sources")

            one_source = {"source_ids": source_ids[:1], "max_parallel": 1}
            _, warm_ids, _ = await post_many(admin.http, one_source, 10)  # warm-up of the start path
            paced, paced_ids, _ = await post_many(admin.http, one_source, args.posts // 3, PACED_RATE)
            results["post_discover_paced"] = summary(paced)
            print(f"  {len(paced)} POSTs at {PACED_RATE:g}/s", flush=True)
            posts, post_ids, wall = await post_many(admin.http, one_source, args.posts)
            results["post_discover"] = {**summary(posts), "wall_s": wall, "req_per_s": len(posts) / wall}
            print(f"  {args.posts} sequential POSTs in {wall:.1f}s", flush=True)
            source = SourceRef(id=source_ids[0], name="Bench source 0")
            starts, direct_ids = await direct_starts(
                client,
                Settings.without_env_file(task_queue=TASK_QUEUE, workflow_task_timeout_seconds=5),
                source,
                args.posts,
            )
            results["start_direct"] = summary(starts)

            # Clean up through the API: Temporal's own cancel (409: the job had finished already).
            cancels, finished = [], 0
            for started_id in [job_id, *warm_ids, *paced_ids, *post_ids]:
                t0 = time.perf_counter()
                response = await admin.http.post(f"/api/v1/jobs/{started_id}/cancel", params={"force": "true"})
                if response.status_code == 202:
                    cancels.append((time.perf_counter() - t0) * 1000)
                elif response.status_code == 409:
                    finished += 1
                else:
                    raise RuntimeError(f"cancel {started_id}: {response.status_code} {response.text[:300]}")
            results["cancel_force"] = summary(cancels) if cancels else {}
            for started_id in direct_ids:
                with suppress(RPCError):
                    await client.get_workflow_handle(started_id).cancel()
            print(f"  cancelled {len(cancels)} jobs through the API ({finished} had finished)", flush=True)

            # The same POSTs with no worker running the jobs they start: what the worker's CPU costs them.
            worker.stop()
            quiet_posts, _, wall = await post_many(admin.http, one_source, args.posts // 3)
            results["post_discover_no_worker"] = {
                **summary(quiet_posts),
                "wall_s": wall,
                "req_per_s": len(quiet_posts) / wall,
            }
            print(f"  {len(quiet_posts)} POSTs with the worker stopped in {wall:.1f}s", flush=True)
        finally:
            await admin.close()

    rows = [
        ("GET /api/v1/jobs/{id}", "1 client, sequential", results["get_sequential"]),
        ("GET /api/v1/jobs/{id}", f"{args.concurrency} clients", results["get_concurrent"]),
        ("  progress query, no API", "1 client, sequential", results["query_direct"]),
        ("POST /api/v1/news/discover", f"1 client, {PACED_RATE:g}/s", results["post_discover_paced"]),
        ("POST /api/v1/news/discover", "1 client, back to back", results["post_discover"]),
        ("  start_job, no API", "1 client, back to back", results["start_direct"]),
        ("POST /api/v1/news/discover", "back to back, worker stopped", results["post_discover_no_worker"]),
        ("POST /api/v1/jobs/{id}/cancel?force", "1 client, sequential", results["cancel_force"]),
    ]
    print(f"\nlatency in ms, measured by the client (a job running: LLM latency {LLM_LATENCY_MS} ms, "
          f"{SOURCES} sources, max_parallel 2):")  # fmt: skip
    print(
        table(
            ["request", "mode", "n", "p50", "p90", "p99", "max", "mean", "req/s"],
            [
                (req, mode, s["n"], s["p50"], s["p90"], s["p99"], s["max"], s["mean"], s.get("req_per_s"))
                for req, mode, s in rows
                if s
            ],
        )
    )
    targets = {
        "get_p99_ms": f"<= {TARGET_GET_P99_MS:g} ms",
        "get_concurrent_p99_ms": f"<= {TARGET_GET_P99_MS:g} ms",
        "post_p99_ms": f"<= {TARGET_POST_P99_MS:g} ms",
    }
    measured = {
        "get_p99_ms": results["get_sequential"]["p99"],
        "get_concurrent_p99_ms": results["get_concurrent"]["p99"],
        "post_p99_ms": results["post_discover"]["p99"],
    }
    limits = {
        "get_p99_ms": TARGET_GET_P99_MS,
        "get_concurrent_p99_ms": TARGET_GET_P99_MS,
        "post_p99_ms": TARGET_POST_P99_MS,
    }
    met = {key: measured[key] <= limits[key] for key in limits}
    print_targets(targets, met, {key: f"{value:.1f} ms" for key, value in measured.items()})
    path = write_results(
        NAME,
        {
            "gets": args.gets,
            "concurrency": args.concurrency,
            "posts": args.posts,
            "llm_latency_ms": LLM_LATENCY_MS,
            "sources": SOURCES,
            "server": "uvicorn, one process (devstack/stack.py start_api); worker.py as its own process",
        },
        results,
        limits,
        met,
    )
    print(f"wrote {path}")
    return {"met": met}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench api", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--gets", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--posts", type=int, default=300)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    main()
