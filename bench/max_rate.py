"""MAX rate limit shared through Postgres: how much of 30 requests/s a backlog gets, and whether MAX ever sees more.

For 1, 2 and 4 client processes (`python -m devstack.max_load`, each `--concurrency` senders posting back to
back, so there is always a backlog) on one bot token for `--seconds`: every process paces itself through
db/rate_limits.py against one embedded Postgres and sends to the MAX emulator, which logs when each request
arrives. Reported per run:
- utilisation: requests per second at the emulator (first to last arrival) over MAX's 30;
- the worst 1-second window at the emulator (every window, from the arrival log), and the shortest span holding
  31 consecutive arrivals: under 1000 ms would be a 31st request within one second; the spacing leaves 1042 ms;
- slots nobody used (gaps between arrivals), of them those given up because a sender woke more than
  `late_after` late, and 429s.

Only Postgres and the MAX emulator run (no Temporal, API or workers): the figure is the limiter's, and nothing
else competes for the two cores.

    python -m bench max_rate [--seconds 20] [--clients 1,2,4] [--concurrency 3] [--headroom 0.04]
"""

from __future__ import annotations

import argparse
import bisect
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import note_load_before, print_targets, table, write_results
from devstack import processes as ps
from devstack.max_load import load_report, start_load
from settings import Settings

NAME = "max_rate"
LIMIT = 30
TARGET_UTILISATION = 0.95


def run_clients(pg_url: str, max_url: str, logs: Path, clients: int, args: argparse.Namespace) -> dict[str, Any]:
    token = f"bench-{uuid.uuid4().hex}"
    start_at = time.time() + 3.0  # every process is up by then
    flags = {
        "database_url": pg_url,
        "max_url": max_url,
        "token": token,
        "seconds": args.seconds,
        "start_at": start_at,
        "concurrency": args.concurrency,
        "headroom": args.headroom,
        "late_after": args.late_after,
    }
    procs = [start_load(f"max-load-{clients}-{n}", None, logs, **flags, name=f"c{n}") for n in range(clients)]
    try:
        for proc in procs:
            proc.wait(args.seconds + 120)
    finally:
        for proc in procs:
            proc.stop()
    reports = [load_report(proc) for proc in procs]
    arrivals = sorted(httpx.get(f"{max_url}/_emulator/max/arrivals", params={"token": token}).json()["arrivals"])
    counted = httpx.get(f"{max_url}/_emulator/stats").json()["max"]["tokens"][token]
    span = arrivals[-1] - arrivals[0]
    interval = 1 / (LIMIT * (1 - args.headroom))
    unused = sum(max(0, round((b - a) / interval) - 1) for a, b in zip(arrivals, arrivals[1:], strict=False))
    return {
        "clients": clients,
        "requests": len(arrivals),
        "rejected_429": counted["rejected"],
        "skipped_slots": sum(r["skipped_slots"] for r in reports),
        "unused_slots": unused,
        "errors": [r["errors"] for r in reports],
        "per_client": [r["sent"] for r in reports],
        "rate_per_s": (len(arrivals) - 1) / span,
        "utilisation": (len(arrivals) - 1) / span / LIMIT,
        "worst_window": max(bisect.bisect_left(arrivals, a + 1.0) - i for i, a in enumerate(arrivals)),
        "max_per_second_emulator": counted["max_per_second"],
        "min_span_31_ms": min(b - a for a, b in zip(arrivals, arrivals[30:], strict=False)) * 1000,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    note_load_before()
    data_dir = Path(tempfile.mkdtemp(prefix="longrun-bench-"))
    data_dir.chmod(0o755)  # Postgres runs as user `pgserver`
    logs = data_dir / "logs"
    pg = ps.start_postgres(data_dir / "pg")
    results = []
    try:
        env = ps.stack_env(database_url=pg.database_url, temporal_address="unused", data_dir=data_dir)
        ps.run_python("migrate", ["-m", "db.migrate"], env, logs, timeout=120)
        emulator = ps.start_emulator("max", "emulators.max", ps.free_port(), None, logs)
        try:
            for clients in args.clients:
                print(f"{clients} client process(es), {args.seconds:g} s ...", flush=True)
                results.append(run_clients(pg.database_url, f"http://{ps.HOST}:{emulator.port}", logs, clients, args))
        finally:
            emulator.stop()
    finally:
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    interval_ms = 1000 / (LIMIT * (1 - args.headroom))
    print(
        f"\none bot token, MAX limit {LIMIT}/s; slots every {interval_ms:.2f} ms ({LIMIT * (1 - args.headroom):g}/s), "
        f"31 consecutive slots span {30 * interval_ms:.0f} ms; late_after {args.late_after * 1000:g} ms"
    )
    headers = [
        "clients", "requests", "per s", "utilisation", "worst 1-s window", "min span of 31, ms", "unused slots",
        "late, given up", "429",
    ]  # fmt: skip
    rows = [
        (
            r["clients"],
            r["requests"],
            r["rate_per_s"],
            f"{r['utilisation']:.1%}",
            r["worst_window"],
            r["min_span_31_ms"],
            r["unused_slots"],
            r["skipped_slots"],
            r["rejected_429"],
        )
        for r in results
    ]
    print(table(headers, rows))
    targets = {
        "utilisation": f">= {TARGET_UTILISATION:.0%} of {LIMIT}/s with 1, 2 and 4 clients",
        "worst_window": f"<= {LIMIT} requests in any 1-second window at MAX",
    }
    met = {
        "utilisation": all(r["utilisation"] >= TARGET_UTILISATION for r in results),
        "worst_window": all(r["worst_window"] <= LIMIT for r in results),
    }
    print_targets(
        targets,
        met,
        {
            "utilisation": ", ".join(f"{r['utilisation']:.1%} x{r['clients']}" for r in results),
            "worst_window": ", ".join(f"{r['worst_window']} x{r['clients']}" for r in results),
        },
    )
    config = {
        "seconds": args.seconds,
        "clients": args.clients,
        "concurrency_per_client": args.concurrency,
        "headroom": args.headroom,
        "late_after_s": args.late_after,
    }
    path = write_results(NAME, config, {"runs": results}, {"utilisation": TARGET_UTILISATION, "window": LIMIT}, met)
    print(f"wrote {path}")
    return {"met": met}


def parser() -> argparse.ArgumentParser:
    defaults = Settings.without_env_file()
    p = argparse.ArgumentParser(prog="python -m bench max_rate", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    p.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    p.add_argument("--concurrency", type=int, default=3, help="senders in each client process")
    p.add_argument("--headroom", type=float, default=defaults.max_rate_headroom)
    p.add_argument("--late-after", type=float, default=defaults.max_rate_late_slot_seconds)
    return p


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parser().parse_args(argv))


if __name__ == "__main__":
    main()
