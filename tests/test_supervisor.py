"""`make up`'s restart policy (devstack/supervisor.py) on real child processes, with the clock passed in so the
backoff is checked without waiting it out."""

from pathlib import Path

import pytest

from devstack import processes as ps
from devstack.supervisor import FIRST_DELAY, MAX_DELAY, STEADY_AFTER, Supervisor

DIES = ["-c", "raise SystemExit(3)"]
RUNS = ["-c", "import time; time.sleep(120)"]


class Pieces:
    """Starts real `python -c` children and remembers them, so each test stops what it started."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[ps.Proc] = []
        self.refuse: str | None = None  # when set, start() fails with this message
        self.program = DIES

    def start(self, name: str) -> ps.Proc:
        if self.refuse:
            raise RuntimeError(self.refuse)
        proc = ps.start_python(name, self.program, None, self.log_dir)
        self.started.append(proc)
        return proc

    def dead(self, name: str) -> ps.Proc:
        proc = self.start(name)
        proc.wait(30)
        return proc


@pytest.fixture
def pieces(tmp_path):
    made = Pieces(tmp_path)
    yield made
    for proc in made.started:
        proc.stop(5)


def supervisor(pieces: Pieces, said: list[str], **kwargs) -> Supervisor:
    return Supervisor({"temporal": pieces.dead("temporal")}, pieces.start, said.append, **kwargs)


def test_a_dead_piece_is_restarted_with_doubling_backoff(pieces):
    said: list[str] = []
    changes: list[int] = []
    sup = supervisor(pieces, said, changed=lambda: changes.append(1))
    sup.tick(now=0.0)
    assert said[-1] == f"restarting temporal in {FIRST_DELAY:g}s (restart 1)"
    assert "temporal (pid" in said[-2] and "exited (3)" in said[-2], "the death is said, with its exit code"
    before = len(pieces.started)
    sup.tick(now=FIRST_DELAY / 2)
    assert len(pieces.started) == before, "nothing is started before the delay has passed"

    sup.tick(now=FIRST_DELAY)
    assert len(pieces.started) == before + 1 and sup.pieces["temporal"] is pieces.started[-1]
    assert said[-1].startswith("temporal restarted in ") and f"(pid {pieces.started[-1].pid})" in said[-1]
    assert changes == [1], "the stack file is rewritten with the new pid"

    pieces.started[-1].wait(30)  # the replacement dies too: the next delay doubles
    sup.tick(now=FIRST_DELAY + 0.1)
    assert said[-1] == f"restarting temporal in {2 * FIRST_DELAY:g}s (restart 2)"


def test_the_delay_is_capped_and_a_failed_start_is_retried(pieces):
    said: list[str] = []
    sup = supervisor(pieces, said)
    pieces.refuse = "port 7233 already in use"
    now = 0.0
    sup.tick(now=now)
    delays = []
    for _ in range(8):
        now = sup.restarts["temporal"].due
        sup.tick(now=now)
        delays.append(sup.restarts["temporal"].due - now)
    assert "restarting temporal failed: port 7233 already in use; next try in" in said[-1]
    assert delays == [min(FIRST_DELAY * 2**n, MAX_DELAY) for n in range(1, 9)]
    assert delays[-1] == MAX_DELAY


def test_a_piece_that_stays_up_starts_its_backoff_again(pieces):
    said: list[str] = []
    sup = supervisor(pieces, said)
    pieces.program = RUNS
    sup.tick(now=0.0)
    sup.tick(now=FIRST_DELAY)
    running = sup.pieces["temporal"]
    assert running.alive() and sup.restarts["temporal"].attempts == 1

    sup.tick(now=FIRST_DELAY + STEADY_AFTER - 1)
    assert sup.restarts["temporal"].attempts == 1, "not yet steady"
    sup.tick(now=FIRST_DELAY + STEADY_AFTER)
    assert sup.restarts["temporal"].attempts == 0
    running.kill9()
    sup.tick(now=FIRST_DELAY + STEADY_AFTER + 1)
    assert said[-1] == f"restarting temporal in {FIRST_DELAY:g}s (restart 1)"


def test_an_unsupervised_piece_is_reported_once_and_left(pieces):
    said: list[str] = []
    sup = Supervisor({"worker": pieces.dead("worker")}, pieces.start, said.append, unsupervised=["worker"])
    started = len(pieces.started)
    for now in (0.0, 5.0, 100.0):
        sup.tick(now=now)
    assert len(pieces.started) == started, "the worker is never replaced by the supervisor"
    assert sum("keeps running" in line for line in said) == 1
    assert said[-1] == "the rest of the stack keeps running; start a replacement worker with `make worker`"
