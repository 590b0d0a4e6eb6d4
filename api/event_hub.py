"""Workers' events fanned out to every subscribed websocket of this API process, each job's in order.

One listener connection feeds `dispatch` (api/event_listener.py); each socket is a `Subscriber` with its own
bounded queue, so a thousand sockets cost one Postgres connection and one parse per event.

Order: a job's events carry ``seq`` 1, 2, 3... (db/events.py). An event whose number was already delivered is a
retried activity's repeat and is dropped; one that comes early is held until the missing numbers arrive, for at
most `reorder_window` seconds, after which what is held goes out anyway (a number may never come: its producer
failed before committing). Postgres delivers notifications in commit order, so a producer that commits its
events one after another never makes anyone wait. A job this process has not seen before starts at seq 1, so
a process that starts in the middle of a job holds that job's first event for the window.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from api.auth import Principal

log = logging.getLogger("longrun.events")

REORDER_WINDOW = 1.0
QUEUE_LIMIT = 1000
JOBS_REMEMBERED = 10_000


@dataclass(frozen=True)
class Event:
    """One event as it travels: its routing fields, and its JSON text, sent to every socket as it came."""

    text: str
    type: str
    owner: str | None = None
    job_id: str | None = None
    seq: int | None = None

    @classmethod
    def parse(cls, payload: str) -> Event:
        """ValueError when `payload` is not an event of db/events.py's shape."""
        body = json.loads(payload)
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise ValueError("an event is a JSON object with a string `type`")
        owner, job_id, seq = body.get("owner"), body.get("job_id"), body.get("seq")
        if owner is not None and not isinstance(owner, str):
            raise ValueError("`owner` must be a string or null")
        if job_id is not None and not isinstance(job_id, str):
            raise ValueError("`job_id` must be a string or null")
        if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
            raise ValueError("`seq` must be an integer or null")
        return cls(payload, body["type"], owner, job_id, seq if job_id is not None else None)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Event:
        return cls.parse(json.dumps(body, separators=(",", ":")))


# Put in a subscriber's queue in place of what it could not take: its socket closes, the client reconnects.
OVERFLOW = Event("", "stream.overflow")


class Subscriber:
    def __init__(self, who: Principal, job_id: str | None, limit: int) -> None:
        self.who = who
        self.job_id = job_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(limit)
        self.overflowed = False
        # Set with `overflowed`: the socket is closed even while its sender is stuck writing to a client that reads
        # nothing (it would never get to the OVERFLOW in its queue).
        self.overflow = asyncio.Event()

    def wants(self, event: Event) -> bool:
        if self.job_id is not None and event.job_id != self.job_id:
            return False
        # An event of nobody's job (the webhook chain's) is the tracker's shared state: everyone signed in sees it.
        return event.owner is None or self.who.is_admin or event.owner == self.who.username

    def offer(self, event: Event) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # Dropping one event silently would break the order promise; dropping the socket does not.
            self.overflowed = True
            self.overflow.set()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(OVERFLOW)


@dataclass
class _JobOrder:
    last: int = 0
    held: dict[int, Event] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class EventHub:
    def __init__(self, reorder_window: float = REORDER_WINDOW, queue_limit: int = QUEUE_LIMIT) -> None:
        self._window = reorder_window
        self._queue_limit = queue_limit
        self._subscribers: set[Subscriber] = set()
        self._jobs: OrderedDict[str, _JobOrder] = OrderedDict()

    def subscribe(self, who: Principal, job_id: str | None = None) -> Subscriber:
        subscriber = Subscriber(who, job_id, self._queue_limit)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def dispatch(self, event: Event) -> None:
        """Deliver `event` to whoever may see it, in its job's order. Never awaits: call it from the loop."""
        if event.job_id is None or event.seq is None:
            self._fan_out(event)
            return
        order = self._order(event.job_id)
        if event.seq <= order.last or event.seq in order.held:
            return  # delivered (or waiting) already: a retried producer's repeat
        if event.seq != order.last + 1:
            order.held[event.seq] = event
            if order.timer is None:
                order.timer = asyncio.get_running_loop().call_later(self._window, self._stop_waiting, event.job_id)
            return
        self._fan_out(event)
        order.last = event.seq
        while order.last + 1 in order.held:
            order.last += 1
            self._fan_out(order.held.pop(order.last))
        if not order.held and order.timer is not None:
            order.timer.cancel()
            order.timer = None

    def broadcast(self, event: Event) -> None:
        """A message about the stream itself (``stream.resumed``) to every subscriber."""
        for subscriber in list(self._subscribers):
            subscriber.offer(event)

    def close(self) -> None:
        for order in self._jobs.values():
            if order.timer is not None:
                order.timer.cancel()
        self._jobs.clear()

    def _fan_out(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.wants(event):
                subscriber.offer(event)

    def _order(self, job_id: str) -> _JobOrder:
        order = self._jobs.get(job_id)
        if order is None:
            order = self._jobs[job_id] = _JobOrder()
            if len(self._jobs) > JOBS_REMEMBERED:
                oldest = next(iter(self._jobs))
                self._stop_waiting(oldest)
                del self._jobs[oldest]
        else:
            self._jobs.move_to_end(job_id)
        return order

    def _stop_waiting(self, job_id: str) -> None:
        """The window is over (or the job is forgotten): what is held goes out in order, gaps and all."""
        order = self._jobs.get(job_id)
        if order is None:
            return
        if order.timer is not None:
            # A forgotten job's timer must not fire later on the order of the same job seen again.
            order.timer.cancel()
            order.timer = None
        if order.held:
            log.info("job %s: events %s..%s waited for a missing one", job_id, min(order.held), max(order.held))
        for seq in sorted(order.held):
            self._fan_out(order.held[seq])
            order.last = seq
        order.held.clear()
