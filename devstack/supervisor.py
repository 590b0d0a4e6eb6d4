"""The restart policy of `make up`: a piece of the stack that dies is started again, on the data it kept, with
backoff, the way a compose `restart: unless-stopped` policy would, and each step is said in the output.

A dependency that is down is an outage the stack is built to ride out (the API answers 503 and keeps what it
accepted, activities retry), so stopping everything because one part died turned a short outage into a long one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

# Doubling from FIRST_DELAY up to MAX_DELAY; a piece that stays up STEADY_AFTER seconds starts again from
# FIRST_DELAY next time, so a crash a day is retried at once and a crash loop does not spin.
FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STEADY_AFTER = 60.0


class Piece(Protocol):
    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    def describe_exit(self, lines: int = 20) -> str: ...


@dataclass
class Restarts:
    """One piece's restart state."""

    attempts: int = 0  # since the piece was last steady
    due: float | None = None  # when the next start is tried; None while the piece runs
    started: float = 0.0  # when the running piece was (re)started


def delay(attempts: int) -> float:
    return min(FIRST_DELAY * 2**attempts, MAX_DELAY)


# Generic so that the stack's own mapping of pieces (which hold more than a Piece) is what it watches.
PieceT = TypeVar("PieceT", bound=Piece)


class Supervisor(Generic[PieceT]):
    """Watches `pieces` (name -> running piece) and replaces a dead one with `start(name)`.

    `unsupervised` names pieces that are only reported (the worker: replacing it is `make worker`'s job, and a
    worker that died is what the jobs' durability is shown on). `changed` is called after every replacement so
    the stack file names the new pids.
    """

    def __init__(
        self,
        pieces: MutableMapping[str, PieceT],
        start: Callable[[str], PieceT],
        say: Callable[[str], None],
        *,
        unsupervised: Iterable[str] = (),
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.pieces = pieces
        self.start = start
        self.say = say
        self.unsupervised = set(unsupervised)
        self.changed = changed
        self.restarts: dict[str, Restarts] = {}
        self.reported: set[int] = set()  # pids of unsupervised pieces already reported dead

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for name in list(self.pieces):
            piece = self.pieces[name]
            state = self.restarts.setdefault(name, Restarts(started=now))
            if piece.alive():
                if state.attempts and now - state.started >= STEADY_AFTER:
                    state.attempts = 0
                continue
            if name in self.unsupervised:
                self._report_once(name, piece)
            elif state.due is None:
                state.due = now + delay(state.attempts)
                self.say(piece.describe_exit())
                self.say(f"restarting {name} in {delay(state.attempts):g}s (restart {state.attempts + 1})")
            elif now >= state.due:
                self._restart(name, state, now)

    def _restart(self, name: str, state: Restarts, now: float) -> None:
        t0 = time.monotonic()
        state.attempts += 1
        try:
            piece = self.start(name)
        except Exception as exc:
            wait = delay(state.attempts)
            state.due = now + wait
            self.say(f"restarting {name} failed: {exc}; next try in {wait:g}s (restart {state.attempts + 1})")
            return
        self.pieces[name] = piece
        state.due = None
        state.started = now
        self.say(f"{name} restarted in {time.monotonic() - t0:.1f}s (pid {piece.pid})")
        self.changed()

    def _report_once(self, name: str, piece: Piece) -> None:
        if piece.pid in self.reported:
            return
        self.reported.add(piece.pid)
        self.say(piece.describe_exit())
        self.say(f"the rest of the stack keeps running; start a replacement {name} with `make {name}`")
        self.changed()
