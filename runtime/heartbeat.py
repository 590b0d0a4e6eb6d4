"""Heartbeats that keep flowing while an activity awaits something slow (an LLM, a feed).

Cancellation reaches an activity only through a heartbeat, and a dead worker is noticed
only by missing heartbeats, so every long activity runs inside `heartbeating`.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from temporalio import activity


@asynccontextmanager
async def heartbeating(checkpoint: Callable[[], Any] = lambda: None) -> AsyncIterator[None]:
    """Heartbeat `checkpoint()` every third of the heartbeat timeout until the block ends."""
    timeout = activity.info().heartbeat_timeout
    interval = timeout.total_seconds() / 3 if timeout else 5.0

    async def beat() -> None:
        while True:
            activity.heartbeat(checkpoint())
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


def resumed_checkpoint(default: Any) -> Any:
    """The checkpoint the previous attempt heartbeated, or `default` on a first attempt."""
    details = activity.info().heartbeat_details
    return details[0] if details else default
