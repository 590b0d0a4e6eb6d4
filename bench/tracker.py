"""`python -m bench tracker`: the task tracker's webhook at 200 updates/s for 60 s (bench/tracker_webhook.py), then
10,000 messages embedded against a plain loop (bench/tracker_embeddings.py, also `python -m bench
tracker_embeddings` alone), each on its own stack.

Targets (issue 9): webhook p99 <= 50 ms; update -> scored p50 <= 1 s (the backlog after the burst is reported);
embedding job <= 1.5x the plain loop's time. `--runs 5` repeats the webhook phase on five fresh stacks (issue 21: the
p99 goal in 5 runs of 5), with the load average before each, since other work on a 2-core machine moves the tail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from bench import tracker_embeddings
from bench.common import bench_stack, print_targets, table, write_results
from bench.tracker_webhook import SECRET
from bench.tracker_webhook import measure as measure_webhook

NAME = "tracker"
TASK_QUEUE = "bench-tracker"
WEBHOOK_P99_MS = 50.0
SCORED_P50_MS = 1000.0


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench tracker")
    parser.add_argument("--rate", type=float, default=200.0, help="updates per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--runs", type=int, default=1, help="webhook phases, each on its own stack; every one must meet the p99 goal"
    )
    parser.add_argument("--skip-embeddings", action="store_true", help="only the webhook phase")
    args, embedding_options = parser.parse_known_args(argv)
    runs = []
    for number in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        if args.runs > 1:
            print(f"--- webhook run {number} of {args.runs} (load average {load:.2f})", flush=True)
        with bench_stack() as stack:
            env = {"LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET}
            api_url = stack.start_api("api", task_queue=TASK_QUEUE, env=env)
            stack.start_worker("worker", task_queue=TASK_QUEUE, env=env)
            runs.append(asyncio.run(measure_webhook(stack, api_url, args.rate, args.seconds)) | {"load_before": load})
    print(table(
        ["run", "load avg", "updates", "sent/s", "failed", "webhook p50 ms", "p99 ms", "max ms", "WAL flushes/update",
         "to scored p50 ms", "p99 ms", "backlog after", "drained in s"],
        [[n, w["load_before"], w["updates"], w["achieved_rate"], w["failed_answers"], w["webhook_p50_ms"],
          w["webhook_p99_ms"], w["webhook_max_ms"], w["wal_flushes_per_update"], w["to_scored_p50_ms"],
          w["to_scored_p99_ms"], w["backlog_after_burst"], w["drain_s"]] for n, w in enumerate(runs, 1)],
    ))  # fmt: skip
    every = f" in each of {args.runs} runs" if args.runs > 1 else ""
    targets = {
        "webhook_p99": f"<= {WEBHOOK_P99_MS:g} ms at {args.rate:g} updates/s{every}",
        "update_to_scored_p50": f"<= {SCORED_P50_MS:g} ms{every}",
        "every_update_answered": "0 failed answers",
    }
    met = {
        "webhook_p99": all(w["webhook_p99_ms"] <= WEBHOOK_P99_MS for w in runs),
        "update_to_scored_p50": all(w["to_scored_p50_ms"] <= SCORED_P50_MS for w in runs),
        "every_update_answered": all(w["failed_answers"] == 0 for w in runs),
    }
    measured = {
        "webhook_p99": " / ".join(f"{w['webhook_p99_ms']:g}" for w in runs) + " ms",
        "update_to_scored_p50": " / ".join(f"{w['to_scored_p50_ms']:g}" for w in runs) + " ms",
        "every_update_answered": f"{sum(w['failed_answers'] for w in runs)} failed",
    }
    print_targets(targets, met, measured)
    webhook = runs[-1]
    path = write_results(NAME, vars(args), {"webhook": webhook, "webhook_runs": runs}, targets, met)
    print(f"wrote {path}")
    if not args.skip_embeddings:
        print("\n--- embeddings (bench/tracker_embeddings.py) ---", flush=True)
        embedded = tracker_embeddings.main(embedding_options)
        met |= {f"embeddings.{key}": ok for key, ok in embedded["met"].items()}
    return {"met": met, "webhook": webhook}
