"""How long an outside party asked us to wait, for every client here: HTTP `Retry-After` headers (MAX, 1C, feeds,
LLM servers), the Bot API's `parameters.retry_after` and Telegram's FloodWait.

What a party asks for is clamped to `MAX_RETRY_AFTER_SECONDS`: Temporal honours `next_retry_delay` as given (its
`maximum_interval` does not cap it), so `Retry-After: 31536000` would park a job for a year and `1e14` overflows
`timedelta`. Asked again after the clamp, a party still rate-limiting simply says so again.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_SECONDS = 300.0


def parse_retry_after(value: str | float | None) -> float | None:
    """A number of seconds or an HTTP date, as seconds from now within [0, MAX_RETRY_AFTER_SECONDS]; None when
    absent or unreadable (not a number, NaN, a boolean)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return bounded(float(value))
    if not isinstance(value, str):
        return None
    try:
        return bounded(float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # RFC 850 and asctime dates carry no zone; HTTP dates are GMT
        moment = moment.replace(tzinfo=UTC)
    return bounded((moment - datetime.now(UTC)).total_seconds())


def bounded(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)
