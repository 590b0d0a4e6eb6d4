"""Group commit for the tracker's webhook: the updates that arrive within a few milliseconds share one transaction,
and each request is answered only once that transaction has committed.

An update is answered only when it is durably stored, and at a few hundred updates/s a commit per update spends
most of the webhook's time in the WAL flush and its tail in the slowest flushes. One commit per group pays one flush
for all of them. A group gathers from its first update for `window` seconds (or until `MAX_GROUP` updates); while
one group commits the next gathers, and an update that has already waited its window through a slow commit goes at
once in the next. So an update waits the window and at most two commits (the one under way, then its own) unless
more than `MAX_GROUP` wait before it.

A group whose transaction fails fails every request in it, with the same error (the API answers 503 when the
database is away, Telegram delivers them all again); nothing is lost, since nothing was answered. Groups commit one
after another, in the order their updates arrived, so the inbox keeps the order the API took them in.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from db import tracker_inbox

# The most updates in one statement: a backlog after a database outage commits in groups of this size.
MAX_GROUP = 500


@dataclass
class _Waiting:
    update_id: int
    payload: str
    answer: asyncio.Future[bool]
    arrived: float = field(default_factory=time.monotonic)


class InboxGroups:
    """`accept` stores an update with the others arriving with it; one task commits the groups in turn."""

    def __init__(self, engine: AsyncEngine, window_seconds: float) -> None:
        self._engine = engine
        self._window = window_seconds
        self._waiting: list[_Waiting] = []
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._committer: asyncio.Task[None] | None = None

    async def accept(self, update_id: int, payload: str) -> bool:
        """Once the update is committed: True when it was stored now, False when it already was. Raises what the
        group's transaction raised."""
        waiting = _Waiting(update_id, payload, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        self._arrived.set()
        if len(self._waiting) >= MAX_GROUP:
            self._full.set()
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups(), name="inbox-group-commit")
        return await waiting.answer

    async def close(self) -> None:
        """Stop committing; an update still waiting (the server stops after its requests are answered, so none
        should) is answered with an error and not stored."""
        if self._committer is not None:
            self._committer.cancel()
            try:
                await self._committer
            except asyncio.CancelledError:
                pass
        for waiting in self._waiting:
            if not waiting.answer.done():
                waiting.answer.set_exception(RuntimeError("the API is stopping"))
        self._waiting.clear()

    async def _commit_groups(self) -> None:
        while True:
            await self._arrived.wait()
            left = self._waiting[0].arrived + self._window - time.monotonic()
            if left > 0:
                try:
                    await asyncio.wait_for(self._full.wait(), left)
                except TimeoutError:
                    pass
            group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
            if len(self._waiting) < MAX_GROUP:
                self._full.clear()
            if not self._waiting:
                self._arrived.clear()
            await self._commit(group)

    async def _commit(self, group: list[_Waiting]) -> None:
        try:
            async with self._engine.begin() as conn:
                stored = await tracker_inbox.accept(conn, [(w.update_id, w.payload) for w in group])
        except asyncio.CancelledError:
            self._waiting[:0] = group  # close() answers them
            raise
        except Exception as exc:  # every request of the group is answered with it
            for waiting in group:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            return
        # An update_id twice in one group: the first is the one stored.
        first = {}
        for waiting in group:
            first.setdefault(waiting.update_id, waiting)
        for waiting in group:
            if not waiting.answer.done():
                waiting.answer.set_result(first[waiting.update_id] is waiting and waiting.update_id in stored)
