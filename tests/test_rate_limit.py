"""How a caller waits for its rate-limit slot (runtime/rate_limit.py), with the limiter's answers scripted."""

import asyncio

import pytest

from runtime.rate_limit import ClockMap, LocalRateLimiter, Prioritised, slot_interval, wait_for_slot


def test_clock_map_trusts_the_fastest_round_trip() -> None:
    clock = ClockMap()
    clock.observe(remote_now=1000.0, asked=10.0, answered=10.002)  # 2 ms round trip: offset 989.999
    clock.observe(remote_now=2000.0, asked=20.0, answered=20.100)  # 100 ms: its midpoint guess would be 50 ms off
    assert clock.local(1000.5) == pytest.approx(10.501)


async def test_a_slot_woken_too_late_is_given_up_for_the_next() -> None:
    loop = asyncio.get_running_loop()
    answers = iter([-1.0, 0.0])  # the first slot is already a second gone when the answer arrives

    async def reserve(key: str) -> tuple[float, float]:
        now = loop.time()
        return now + next(answers), now

    assert await wait_for_slot(reserve, "k", ClockMap(), late_after=0.05) == 1


async def test_a_slot_on_time_is_kept() -> None:
    loop = asyncio.get_running_loop()

    async def reserve(key: str) -> tuple[float, float]:
        return loop.time(), loop.time()

    assert await wait_for_slot(reserve, "k", ClockMap(), late_after=0.05) == 0


async def test_local_limiter_hands_out_consecutive_slots_per_key() -> None:
    limiter = LocalRateLimiter(10.0)
    starts = [(await limiter._reserve("a"))[0] for _ in range(3)]
    other = (await limiter._reserve("b"))[0]
    assert [round(b - a, 6) for a, b in zip(starts, starts[1:], strict=False)] == [0.1, 0.1]
    assert other < starts[1]  # another key has its own schedule


def test_headroom_spaces_slots_wider() -> None:
    assert slot_interval(30, 0.0) == pytest.approx(1 / 30)
    assert slot_interval(30, 0.04) == pytest.approx(1 / 28.8)
    with pytest.raises(ValueError):
        slot_interval(30, 1.0)


class HandOut:
    """A limiter whose slots the test hands out one at a time, and that counts the reservations made."""

    def __init__(self) -> None:
        self.slots: asyncio.Queue[Exception | None] = asyncio.Queue()
        self.reserving = 0
        self.most_reserving = 0
        self.reservations = 0

    async def acquire(self, key: str) -> None:
        self.reservations += 1
        self.reserving += 1
        self.most_reserving = max(self.most_reserving, self.reserving)
        try:
            failure = await self.slots.get()
        finally:
            self.reserving -= 1
        if failure is not None:
            raise failure

    def give(self, count: int) -> None:
        for _ in range(count):
            self.slots.put_nowait(None)


async def waiter(gate: Prioritised, name: str, priority: int, served: list[str]) -> None:
    await gate.acquire("token", priority)
    served.append(name)


async def settle() -> None:
    """Let every task run up to its next wait (no time passes: nothing here waits on a clock)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_the_most_urgent_waiter_takes_the_next_slot_even_if_it_came_last() -> None:
    inner, served = HandOut(), []
    gate = Prioritised(inner, pipeline=2)
    tasks = [asyncio.create_task(waiter(gate, f"upload-{i}", 1 + i, served)) for i in range(4)]
    await settle()
    tasks.append(asyncio.create_task(waiter(gate, "send", 0, served)))
    await settle()
    inner.give(5)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert served == ["send", "upload-0", "upload-1", "upload-2", "upload-3"]
    # Never more than the pipeline at the limiter, and no slot taken that nobody used.
    assert inner.most_reserving == 2
    assert inner.reservations == 5


async def test_a_cancelled_waiter_leaves_its_slot_to_the_next() -> None:
    inner, served = HandOut(), []
    gate = Prioritised(inner, pipeline=1)
    first = asyncio.create_task(waiter(gate, "first", 0, served))
    second = asyncio.create_task(waiter(gate, "second", 1, served))
    await settle()
    first.cancel()
    await settle()
    inner.give(1)
    await asyncio.wait_for(second, 5)
    assert served == ["second"]


async def test_a_failing_limiter_fails_the_waiters_instead_of_leaving_them_waiting() -> None:
    inner = HandOut()
    gate = Prioritised(inner, pipeline=1)
    tasks = [asyncio.create_task(gate.acquire("token", i)) for i in range(3)]
    await settle()
    inner.slots.put_nowait(ConnectionError("database gone"))
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert all(isinstance(r, ConnectionError) for r in results)
    # The gate is usable again afterwards.
    served: list[str] = []
    task = asyncio.create_task(waiter(gate, "later", 0, served))
    await settle()
    inner.give(1)
    await asyncio.wait_for(task, 5)
    assert served == ["later"]
