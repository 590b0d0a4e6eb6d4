"""Stand-ins for activities, registered under the real activity names, that a test can hold and release."""

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from temporalio import activity

from devstack.clients import eventually


class Gate:
    """Activities pass `enter()` and wait there until the test `release()`s them."""

    def __init__(self) -> None:
        self.entered = Counter()
        self._open = asyncio.Event()

    async def enter(self, key: Any) -> None:
        self.entered[key] += 1
        await self._open.wait()

    def release(self) -> None:
        self._open.set()

    async def reached(self, count: int, what: str) -> None:
        await eventually(lambda: _now(sum(self.entered.values()) >= count), what, within=20, interval=0.02)


async def _now(value: Any) -> Any:
    return value


async def heartbeat_until_cancelled(on_cancel: Callable[[], None]) -> None:
    """What a long activity does while its worker lives: beat, so Temporal's cancel can reach it."""
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        on_cancel()
        raise
