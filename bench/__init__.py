"""Benchmarks of Longrun: where the figures in the README and docs/ come from (tests never assert on timings).

`python -m bench` (what `make bench` runs) starts a throw-away stack on free loopback ports (devstack/stack.py)
and runs five measurements, one at a time; `python -m bench orchestration|api|recovery|webbuddy|blocking` runs
one.

- `bench.orchestration`: 100,000 no-op items through a job workflow (batched activities, checkpoint
  heartbeats) against a plain asyncio loop doing the same database writes.
- `bench.api_latency`: p50/p99 of `GET /api/v1/jobs/{id}` during a running job, and of
  `POST /api/v1/news/discover`, through uvicorn.
- `bench.recovery`: seconds from `kill -9` of a worker process to the next item its replacement completes,
  with the current tuning and with Temporal's defaults, broken down into where the seconds go.
- `bench.webbuddy`: WebBuddy queries created through the API and answered by worker.py (LLM emulator at zero
  latency): create-to-done on an idle stack, sustained queries/s with the backlog, where a query's time goes,
  and history events per query workflow.
- `bench.blocking`: what the event loops feel of CPU-heavy work: the API's latency for a cheap request while
  clients log in (argon2), and a worker's heartbeats while it parses a multi-megabyte feed.

Each prints a table and writes `bench/results/<name>.json` (git-ignored).

Support modules: `bench.items` (the bench_item table, the one write path shared by the workflow and the plain
loop, the activity), `bench.items_workflow` (`BenchItemsWorkflow`, on the job protocol of workflows/base.py),
`bench.worker` (`python -m bench.worker`: worker.py's worker with the bench workflow added) and
`bench.common` (the stack, tables, JSON, percentiles).
"""
