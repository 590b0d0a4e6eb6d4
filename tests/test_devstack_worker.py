"""`make worker` (`python -m devstack worker`) while `make up` restarts Temporal: the replacement a person starts for
a dead worker waits for Temporal instead of exiting, so the tracker's inbox has a worker when Temporal is back."""

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack import processes as ps

ROOT = Path(__file__).resolve().parents[1]


def _stack_file(data_dir: Path, up_pid: int, address: str) -> None:
    env = {"LONGRUN_TEMPORAL_ADDRESS": address}  # as `make up` records it for the processes it starts
    stack = {"up_pid": up_pid, "temporal_address": address, "task_queue": "devstack-worker-test", "env": env}
    (data_dir / "stack.json").write_text(json.dumps(stack))


def _devstack_worker(data_dir: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN_")}
    env.update(LONGRUN_DATA_DIR=str(data_dir), LONGRUN_DATABASE_URL="", LONGRUN_TASK_QUEUE="devstack-worker-test")
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "devstack", "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def test_a_worker_started_while_make_up_restarts_temporal_waits_for_it(tmp_path):
    address = f"{ps.HOST}:{ps.free_port()}"
    # Stands for `make up`'s own process: alive, and a devstack by its command line.
    up = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "devstack"])
    worker = None
    try:
        _stack_file(tmp_path, up.pid, address)
        log = tmp_path / "worker.out"
        worker = _devstack_worker(tmp_path, log)

        def waiting() -> bool:
            assert worker.poll() is None, log.read_text()
            return f"Temporal at {address} unreachable, retrying in" in log.read_text()

        ps.wait_until(waiting, 60, "the worker to wait for Temporal", interval=0.2)
    finally:
        for proc in (worker, up):
            if proc is not None:
                proc.kill()
                proc.wait()


def test_without_make_up_a_worker_is_told_to_start_it(tmp_path):
    address = f"{ps.HOST}:{ps.free_port()}"
    gone = subprocess.Popen([sys.executable, "-c", "pass", "devstack"])
    gone.wait()
    _stack_file(tmp_path, gone.pid, address)
    log = tmp_path / "worker.out"
    worker = _devstack_worker(tmp_path, log)
    assert worker.wait(timeout=60) == 1
    assert "`make up` is not running" in log.read_text()
