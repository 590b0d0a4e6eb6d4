"""When a progress event is worth sending: at most one per `every` items, and always the last one.

The tracker's clients got progress every 10 items or on completion before Longrun, so a large batch does not flood
them; a step that handles items in batches of 50 therefore sends one event per batch, not five.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EventThrottle:
    every: int = 10
    # The `processed` count of the last event sent; part of an activity's checkpoint so a retry goes on from it.
    last: int | None = None

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError("every must be at least 1")

    def due(self, processed: int, total: int | None = None) -> bool:
        """True (and remembered as sent) when `processed` has passed a multiple of `every` since the last event,
        or has reached `total`; False otherwise, and for a count already reported."""
        if self.last is not None and processed <= self.last:
            return False
        finished = total is not None and processed >= total
        crossed = processed // self.every > (self.last or 0) // self.every
        if finished or crossed:
            self.last = processed
            return True
        return False
