"""Activities wait out an outage of our own database instead of spending their retry attempts on it.

A retry policy's attempts are a budget for the outside service an activity talks to: news discovery gives a feed 4
tries before it reports the source failed. A Postgres restart of a few seconds would spend that budget too, and a
source would be given up for our own part's fault (`python -m bench chaos` lost 54 drafts this way). So when an
activity fails because the database cannot be reached (`db.session.database_unavailable`), this interceptor waits
until the database answers again and runs the activity once more in the same attempt: from the attempt's
checkpoint, as a retry would, since every activity is written to be retried.

While it waits it heartbeats the activity's last checkpoint again, so the server neither times the attempt out nor
loses the checkpoint, and a cancel still arrives. After `within` seconds of outage the failure goes to the retry
policy as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from db.session import database_unavailable

log = logging.getLogger("longrun.worker")

Probe = Callable[[], Awaitable[Any]]
PROBE_INTERVAL = 0.5


def caused_by_outage(exc: BaseException | None) -> bool:
    """The error or one it was raised from (`raise outside_failure(exc) from exc`) says the database is down."""
    seen = 0
    while exc is not None and seen < 10:
        if database_unavailable(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def outage_reason(exc: BaseException) -> str:
    """The error's first line: SQLAlchemy's message goes on with the statement and its parameters (user content)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


class DatabaseOutageInterceptor(Interceptor):
    """`probe` runs one cheap statement on the worker's own engine; it raises while the database is down."""

    def __init__(self, probe: Probe, within: float = 300.0) -> None:
        self.probe = probe
        self.within = within

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _WaitOutOutage(next, self)


class _LastCheckpoint(ActivityOutboundInterceptor):
    """Remembers what the activity heartbeated last, to heartbeat it again while waiting."""

    def __init__(self, next: ActivityOutboundInterceptor) -> None:
        super().__init__(next)
        self.details: tuple[Any, ...] | None = None

    def heartbeat(self, *details: Any) -> None:
        self.details = details
        super().heartbeat(*details)


class _WaitOutOutage(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, root: DatabaseOutageInterceptor) -> None:
        super().__init__(next)
        self.root = root
        self.outbound: _LastCheckpoint | None = None

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self.outbound = _LastCheckpoint(outbound)
        super().init(self.outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        deadline: float | None = None
        while True:
            try:
                return await super().execute_activity(input)
            except Exception as exc:
                if not caused_by_outage(exc):
                    raise
                deadline = deadline or time.monotonic() + self.root.within
                if time.monotonic() > deadline:
                    raise
                log.warning("the database is unavailable (%s); waiting for it, then running again", outage_reason(exc))
                await self._wait_for_database(deadline)

    async def _wait_for_database(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._heartbeat()
            try:
                await self.root.probe()
                return
            except Exception as exc:
                if not caused_by_outage(exc):
                    raise
            await asyncio.sleep(PROBE_INTERVAL)

    def _heartbeat(self) -> None:
        if not activity.info().heartbeat_timeout or self.outbound is None:
            return
        details = self.outbound.details
        if details is None:  # nothing heartbeated in this attempt: keep the previous attempt's checkpoint
            details = tuple(activity.info().heartbeat_details)
        self.outbound.heartbeat(*details)
