"""A rate limit every process shares through Postgres: GCRA, one atomic statement per request.

MAX allows 30 requests/s per bot token, across every migration that uses the token and every worker process on
any machine; what those processes share is this database. Each request reserves the key's next slot in one
statement (the row is created on first use):

    tat = greatest(tat, now) + interval      -- the slot starts at the old greatest(tat, now)

and the caller sleeps until its slot (runtime/rate_limit.py `wait_for_slot`, which also gives up a slot it woke
too late for). `now` is the database's `clock_timestamp()`, so processes whose clocks disagree still space their
requests on one clock; each process maps that clock onto its own monotonic one (`ClockMap`). The statement runs
outside a transaction: one round trip, and the row is locked only while it runs.

Slots are spaced for `rate * (1 - headroom)`: see runtime/rate_limit.py for why a limit met exactly at the
sender is exceeded at the receiver, and docs/rate-limit.md for the measured margin. The key is
stored as its SHA-256 (db/models/rate_limits.py).

`refused` is the same slots for a caller that must not wait (an unsigned request to the API): a request within the
burst takes a slot, one beyond it takes none and is told how long until one is free (a 429 with Retry-After).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Float, String, bindparam, text

from db.session import SessionFactory, autocommit
from runtime.rate_limit import ClockMap, slot_interval, wait_for_slot
from settings import Settings

_RESERVE = text(
    """
    WITH now AS (SELECT clock_timestamp() AS t),
    slot AS (
        INSERT INTO max_rate_limit (key_hash, tat)
        SELECT :key_hash, now.t + make_interval(secs => :interval) FROM now
        ON CONFLICT (key_hash) DO UPDATE
            SET tat = greatest(max_rate_limit.tat + make_interval(secs => :interval), excluded.tat)
        RETURNING tat
    )
    SELECT extract(epoch FROM slot.tat) - :interval AS start, extract(epoch FROM now.t) AS now FROM slot, now
    """
).bindparams(bindparam("key_hash", type_=String), bindparam("interval", type_=Float))


# GCRA with a burst: a request is let through while the key's tat is at most `tolerance` ahead of now, and then moves
# it one interval on. A refused request changes nothing (the WHERE), and the outer SELECT still sees the row as it
# was before this statement, so it answers how far ahead it is.
_TAKE = text(
    """
    WITH now AS (SELECT clock_timestamp() AS t),
    taken AS (
        INSERT INTO max_rate_limit AS r (key_hash, tat)
        SELECT :key_hash, now.t + make_interval(secs => :interval) FROM now
        ON CONFLICT (key_hash) DO UPDATE
            SET tat = greatest(r.tat + make_interval(secs => :interval), excluded.tat)
            WHERE r.tat <= excluded.tat + make_interval(secs => :tolerance - :interval)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM taken) AS taken,
           (SELECT extract(epoch FROM r.tat - now.t) FROM max_rate_limit AS r, now WHERE r.key_hash = :key_hash)
               AS ahead
    """
).bindparams(
    bindparam("key_hash", type_=String), bindparam("interval", type_=Float), bindparam("tolerance", type_=Float)
)


async def refused(sessions: SessionFactory, key: str, *, rate_per_second: float, burst: int) -> float:
    """0.0 when a request for `key` may go now (its slot is taken), else the seconds until one may: `burst` requests
    at once, then one every 1 / `rate_per_second` seconds."""
    interval = slot_interval(rate_per_second, 0.0)
    tolerance = interval * (max(burst, 1) - 1)
    async with autocommit(sessions) as connection:
        row = (
            await connection.execute(_TAKE, {"key_hash": key_hash(key), "interval": interval, "tolerance": tolerance})
        ).one()
    if row.taken:
        return 0.0
    return max(float(row.ahead) - tolerance, 0.0) or interval


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class PostgresRateLimiter:
    """`await limiter.acquire(key)` returns when a request for `key` may go out, whichever process asks."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        rate_per_second: float = 30.0,
        headroom: float = 0.04,
        late_after: float = 0.015,
    ) -> None:
        self.interval = slot_interval(rate_per_second, headroom)
        self.late_after = late_after
        self.skipped = 0  # slots given up because this process woke too late for them
        self._sessions = sessions
        self._clock = ClockMap()

    @classmethod
    def from_settings(
        cls, sessions: SessionFactory, settings: Settings, *, per_chat: bool = False
    ) -> PostgresRateLimiter:
        """MAX's limit per bot token, or (`per_chat`) its limit on messages into one chat."""
        rate = settings.max_chat_messages_per_second if per_chat else settings.max_rate_per_second
        return cls(
            sessions,
            rate_per_second=rate,
            headroom=settings.max_rate_headroom,
            late_after=settings.max_rate_late_slot_seconds,
        )

    async def acquire(self, key: str) -> None:
        self.skipped += await wait_for_slot(self._reserve, key, self._clock, late_after=self.late_after)

    async def _reserve(self, key: str) -> tuple[float, float]:
        """(start of the key's next slot, the database's now), Unix seconds on the database's clock."""
        async with autocommit(self._sessions) as connection:
            row = (await connection.execute(_RESERVE, {"key_hash": key_hash(key), "interval": self.interval})).one()
        return float(row.start), float(row.now)
