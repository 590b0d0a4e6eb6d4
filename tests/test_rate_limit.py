"""How a caller waits for its rate-limit slot (clients/rate_limit.py), with the limiter's answers scripted."""

import asyncio

import pytest

from clients.rate_limit import ClockMap, LocalRateLimiter, slot_interval, wait_for_slot


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
