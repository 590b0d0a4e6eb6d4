"""Progress pushed to websockets: one poller per watched job, fanned out to every subscriber.

A thousand browsers watching one job cost one progress query per interval, not a thousand. Each subscriber is an
`Outbox` of bounded size: a client that does not read fills its own and is closed, instead of growing the API's
memory for as long as it stays connected.
"""

import asyncio
import logging

from api.jobs import JobNotFound, Jobs, JobSnapshot

log = logging.getLogger("longrun.progress")

Update = tuple[str, JobSnapshot]


class Outbox:
    """One socket's pushes waiting to be sent. Full means the client stopped reading: `overflowed` is set, nothing
    more is kept, and the socket's owner closes it (the client reconnects and starts from a fresh snapshot)."""

    def __init__(self, limit: int) -> None:
        self.queue: asyncio.Queue[Update] = asyncio.Queue(limit)
        self.overflowed = asyncio.Event()

    def offer(self, update: Update) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(update)
        except asyncio.QueueFull:
            self.overflowed.set()
            while not self.queue.empty():
                self.queue.get_nowait()

    async def get(self) -> Update:
        return await self.queue.get()


class ProgressHub:
    def __init__(self, jobs: Jobs, interval: float = 0.5) -> None:
        self._jobs = jobs
        self._interval = interval
        self._subscribers: dict[str, set[Outbox]] = {}
        self._pollers: dict[str, asyncio.Task] = {}
        self._last: dict[str, JobSnapshot] = {}

    def watch(self, job_id: str, queue: Outbox) -> None:
        self._subscribers.setdefault(job_id, set()).add(queue)
        if job_id in self._last:
            queue.offer((job_id, self._last[job_id]))
        if job_id not in self._pollers:
            self._pollers[job_id] = asyncio.create_task(self._poll(job_id))

    def unwatch(self, job_id: str, queue: Outbox) -> None:
        subscribers = self._subscribers.get(job_id, set())
        subscribers.discard(queue)
        if not subscribers:
            self._subscribers.pop(job_id, None)
            poller = self._pollers.pop(job_id, None)
            if poller:
                poller.cancel()
            self._last.pop(job_id, None)

    def watching(self, job_id: str) -> bool:
        return job_id in self._pollers

    async def _poll(self, job_id: str) -> None:
        try:
            while True:
                try:
                    snap = await self._jobs.snapshot(job_id, who=None)
                except JobNotFound:
                    return
                except Exception as exc:  # Temporal restarting: keep the subscribers, try again.
                    log.warning("progress of %s unavailable: %s", job_id, exc)
                    await asyncio.sleep(self._interval * 4)
                    continue
                if snap != self._last.get(job_id):
                    self._last[job_id] = snap
                    for queue in list(self._subscribers.get(job_id, ())):
                        queue.offer((job_id, snap))
                if snap.closed:
                    return
                await asyncio.sleep(self._interval)
        finally:
            # A later subscriber to this job starts a fresh poller.
            if self._pollers.get(job_id) is asyncio.current_task():
                del self._pollers[job_id]

    async def close(self) -> None:
        for poller in self._pollers.values():
            poller.cancel()
        self._pollers.clear()
