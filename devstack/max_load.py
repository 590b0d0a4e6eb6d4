"""`python -m devstack.max_load`: one process sending MAX messages for one bot token as fast as the shared limit lets.

It is what a worker process does to MAX, reduced to the pacing: a `MaxClient` on a `PostgresRateLimiter` over the
given database, `--concurrency` senders each posting back to back into one chat from `--start-at` (Unix time,
so several processes begin together) for `--seconds`. The rate-limit test and `python -m bench max_rate` run
several of these at once against the MAX emulator and read its per-token counts.

Prints one JSON line: {"sent", "errors": {code: n}, "skipped_slots", "first_sent", "last_sent"} (Unix times).
`start_load` runs one such process and `load_report` reads that line back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from clients.max import MaxClient, MaxError
from db.rate_limits import PostgresRateLimiter
from db.session import make_session_factory
from devstack import processes as ps
from settings import Settings


async def run(args: argparse.Namespace) -> dict[str, Any]:
    engine = create_async_engine(args.database_url, pool_size=args.concurrency)
    limiter = PostgresRateLimiter(
        make_session_factory(engine),
        rate_per_second=args.rate,
        headroom=args.headroom,
        late_after=args.late_after,
    )
    sent: list[float] = []
    errors: Counter[str] = Counter()
    end = args.start_at + args.seconds
    await asyncio.sleep(max(0.0, args.start_at - time.time()))
    async with MaxClient(args.max_url, limiter) as client:

        async def sender(number: int) -> None:
            i = 0
            while time.time() < end:
                try:
                    await client.send(args.token, args.chat_id, f"load {args.name} {number}-{i}")
                    sent.append(time.time())
                except MaxError as exc:
                    errors[exc.code or str(exc.status)] += 1
                i += 1

        await asyncio.gather(*(sender(n) for n in range(args.concurrency)))
    await engine.dispose()
    return {
        "sent": len(sent),
        "errors": dict(errors),
        "skipped_slots": limiter.skipped,
        "first_sent": min(sent, default=None),
        "last_sent": max(sent, default=None),
    }


def parser() -> argparse.ArgumentParser:
    defaults = Settings.without_env_file()
    p = argparse.ArgumentParser(prog="python -m devstack.max_load", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--database-url", required=True, help="SQLAlchemy async URL of a migrated database")
    p.add_argument("--max-url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--chat-id", type=int, default=-1)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--start-at", type=float, default=0.0, help="Unix time to begin at (default: now)")
    p.add_argument("--concurrency", type=int, default=2, help="senders in this process")
    p.add_argument("--rate", type=float, default=defaults.max_rate_per_second)
    p.add_argument("--headroom", type=float, default=defaults.max_rate_headroom)
    p.add_argument("--late-after", type=float, default=defaults.max_rate_late_slot_seconds)
    p.add_argument("--name", default="p")
    return p


def start_load(process: str, env: Mapping[str, str] | None, logs: Path, **flags: object) -> ps.Proc:
    """`python -m devstack.max_load` named `process`, each flag an option: `database_url=u` is `--database-url u`."""
    args = ["-m", "devstack.max_load"]
    for flag, value in flags.items():
        args += [f"--{flag.replace('_', '-')}", str(value)]
    return ps.start_python(process, args, env, logs)


def load_report(proc: ps.Proc) -> dict[str, Any]:
    """What a finished load process printed; its exit and the end of its log when it did not succeed."""
    lines = [line for line in proc.log_tail(5).splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(proc.describe_exit())
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.start_at = args.start_at or time.time()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
