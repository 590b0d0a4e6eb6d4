"""`python -m bench tracker`: the task tracker's webhook at 200 updates/s for 60 s (bench/tracker_webhook.py), then
10,000 messages embedded against a plain loop (bench/tracker_embeddings.py, also `python -m bench
tracker_embeddings` alone), each on its own stack.

Targets (issue 9): webhook p99 <= 50 ms; update -> scored p50 <= 1 s (the backlog after the burst is reported);
embedding job <= 1.5x the plain loop's time.
"""

from __future__ import annotations

import argparse
import asyncio
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
    parser.add_argument("--skip-embeddings", action="store_true", help="only the webhook phase")
    args, embedding_options = parser.parse_known_args(argv)
    with bench_stack() as stack:
        env = {"LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET}
        api_url = stack.start_api("api", task_queue=TASK_QUEUE, env=env)
        stack.start_worker("worker", task_queue=TASK_QUEUE, env=env)
        webhook = asyncio.run(measure_webhook(stack, api_url, args.rate, args.seconds))
    print(table(
        ["updates", "sent/s", "failed", "webhook p50 ms", "p99 ms", "max ms", "to scored p50 ms", "p99 ms",
         "backlog after", "drained in s"],
        [[webhook["updates"], webhook["achieved_rate"], webhook["failed_answers"], webhook["webhook_p50_ms"],
          webhook["webhook_p99_ms"], webhook["webhook_max_ms"], webhook["to_scored_p50_ms"],
          webhook["to_scored_p99_ms"], webhook["backlog_after_burst"], webhook["drain_s"]]],
    ))  # fmt: skip
    targets = {
        "webhook_p99": f"<= {WEBHOOK_P99_MS:g} ms at {args.rate:g} updates/s",
        "update_to_scored_p50": f"<= {SCORED_P50_MS:g} ms",
        "every_update_answered": "0 failed answers",
    }
    met = {
        "webhook_p99": webhook["webhook_p99_ms"] <= WEBHOOK_P99_MS,
        "update_to_scored_p50": webhook["to_scored_p50_ms"] <= SCORED_P50_MS,
        "every_update_answered": webhook["failed_answers"] == 0,
    }
    measured = {
        "webhook_p99": f"{webhook['webhook_p99_ms']} ms",
        "update_to_scored_p50": f"{webhook['to_scored_p50_ms']} ms",
        "every_update_answered": f"{webhook['failed_answers']} failed",
    }
    print_targets(targets, met, measured)
    path = write_results(NAME, vars(args), {"webhook": webhook}, targets, met)
    print(f"wrote {path}")
    if not args.skip_embeddings:
        print("\n--- embeddings (bench/tracker_embeddings.py) ---", flush=True)
        embedded = tracker_embeddings.main(embedding_options)
        met |= {f"embeddings.{key}": ok for key, ok in embedded["met"].items()}
    return {"met": met, "webhook": webhook}
