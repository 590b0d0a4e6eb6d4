"""Pacing requests to a rate per key: what a rate-limited client takes, and how a caller waits for its slot.

A limiter hands out slots GCRA-style: the key's next free slot is `max(tat, now)`, and taking it moves `tat` one
interval on, so slots are evenly spaced and never in the past. `db/rate_limits.py` keeps `tat` in Postgres so
every process shares it; `LocalRateLimiter` keeps it in memory for one process (tests, single-process tools).

Spacing slots at the limit is not enough: a request reaches the server some time after its slot, and that delay
varies (the caller's event loop wakes late, the network, the server's own queue). Two requests one interval
apart can land closer, so a 1-second window at the server can hold one more than the limit. Two guards:
- headroom: slots are spaced for `rate * (1 - headroom)`, so a window can absorb `headroom` seconds of
  spread in arrival delays (30/s with 4% headroom: 41 ms);
- a slot woken up more than `late_after` seconds late is given up and a new one taken, so a stalled caller
  does not send on top of the next slot's owner. It costs that slot; it happens only when the caller stalls.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from runtime.metrics import RATE_LIMIT_WAIT

# Reserve the key's next slot; answer (when it starts, now), both in seconds on the limiter's own clock.
ReserveSlot = Callable[[str], Awaitable[tuple[float, float]]]

# After this many slots given up in a row the caller sends anyway: a loop or database that slow would otherwise
# keep it waiting forever, and the server's 429 (retried) is the backstop.
MAX_SKIPPED_SLOTS = 5


class RateLimiter(Protocol):
    async def acquire(self, key: str) -> None:
        """Return when a request for `key` may be sent now."""


def slot_interval(rate_per_second: float, headroom: float) -> float:
    """Seconds between two slots for `rate_per_second` with `headroom` (a share of the rate) left unused."""
    if rate_per_second <= 0 or not 0 <= headroom < 1:
        raise ValueError("rate must be positive and headroom in [0, 1)")
    return 1.0 / (rate_per_second * (1.0 - headroom))


class ClockMap:
    """The limiter's clock (the database's) on this process's monotonic clock, estimated as NTP does.

    Each reservation answers the limiter's `now`, read somewhere between asking and answering; taking the middle
    is wrong by up to half the round trip, and a round trip now and then takes 50 ms on a busy machine. So the
    offset comes from the fastest of the recent round trips, and one slow answer does not move the schedule.
    """

    def __init__(self, keep: int = 32) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=keep)  # (round trip, remote minus local)

    def observe(self, remote_now: float, asked: float, answered: float) -> None:
        self._samples.append((answered - asked, remote_now - (asked + answered) / 2))

    def local(self, remote: float) -> float:
        return remote - min(self._samples)[1]


async def wait_for_slot(reserve: ReserveSlot, key: str, clock: ClockMap, *, late_after: float) -> int:
    """Reserve a slot for `key` and sleep until it starts; answer how many late slots were given up first."""
    loop = asyncio.get_running_loop()
    skipped = 0
    while True:
        asked = loop.time()
        slot, remote_now = await reserve(key)
        clock.observe(remote_now, asked, loop.time())
        start = clock.local(slot)
        wait = max(0.0, start - loop.time())
        RATE_LIMIT_WAIT.observe(wait)
        await asyncio.sleep(wait)
        if loop.time() - start <= late_after or skipped >= MAX_SKIPPED_SLOTS:
            return skipped
        skipped += 1


class LocalRateLimiter:
    """The same slots in one process's memory: for tests and for tools that run alone."""

    def __init__(self, rate_per_second: float, *, headroom: float = 0.0, late_after: float = 0.015) -> None:
        self.interval = slot_interval(rate_per_second, headroom)
        self.late_after = late_after
        self.skipped = 0
        self._tat: dict[str, float] = {}
        self._clock = ClockMap()

    async def acquire(self, key: str) -> None:
        self.skipped += await wait_for_slot(self._reserve, key, self._clock, late_after=self.late_after)

    async def _reserve(self, key: str) -> tuple[float, float]:
        now = asyncio.get_running_loop().time()
        slot = max(self._tat.get(key, now), now)
        self._tat[key] = slot + self.interval
        return slot, now


class Prioritised:
    """One process's requests for a key take the limiter's slots most urgent first, not in the order they asked.

    A migration's sender and the uploads for the posts after it share one token. Reserving slots in the order
    asked, a send queues behind every upload already waiting (16 files, two requests each: half a second), the
    sender falls behind, the uploads run out of posts to prepare, and the limit goes unused while the next files
    download. Here each key has at most `pipeline` reservations at the limiter at a time, and a slot, when it
    starts, goes to the waiter with the lowest `priority`, the earliest of those first. Pipelining two keeps the
    next reservation's round trip out of the gap between slots. Other processes still share the key's slots
    through the limiter as before.
    """

    def __init__(self, limiter: RateLimiter, *, pipeline: int = 2) -> None:
        self._limiter = limiter
        self._pipeline = max(pipeline, 1)
        self._queues: dict[str, _Queue] = {}
        self._order = 0

    async def acquire(self, key: str, priority: int = 0) -> None:
        queue = self._queues.setdefault(key, _Queue())
        turn = asyncio.get_running_loop().create_future()
        self._order += 1
        heapq.heappush(queue.waiting, (priority, self._order, turn))
        while queue.pumps < min(self._pipeline, queue.live()):
            queue.pumps += 1
            queue.tasks.add(task := asyncio.create_task(self._pump(key, queue)))
            task.add_done_callback(queue.tasks.discard)
        await turn

    async def _pump(self, key: str, queue: _Queue) -> None:
        """Reserve a slot and hand it over, while more are waiting than the other pumps are reserving for."""
        try:
            while queue.live() >= queue.pumps:
                await self._limiter.acquire(key)
                if (turn := queue.next()) is not None:
                    turn.set_result(None)
        except Exception as exc:  # the limiter failed (its database): every waiter hears of it, none hangs
            while (turn := queue.next()) is not None:
                turn.set_exception(exc)
        finally:
            queue.pumps -= 1
            if not queue.pumps and not queue.waiting:
                self._queues.pop(key, None)


class _Queue:
    def __init__(self) -> None:
        self.waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self.pumps = 0
        self.tasks: set[asyncio.Task[None]] = set()  # held so a running pump is not garbage-collected

    def live(self) -> int:
        """Waiters still waiting (a cancelled one leaves its entry behind until it reaches the top)."""
        while self.waiting and self.waiting[0][2].done():
            heapq.heappop(self.waiting)
        return sum(1 for _, _, turn in self.waiting if not turn.done())

    def next(self) -> asyncio.Future[None] | None:
        return heapq.heappop(self.waiting)[2] if self.live() else None
