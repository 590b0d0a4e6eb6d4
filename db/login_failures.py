"""The bound on failed sign-ins: per username (guessing one account's password) and per address (trying many
accounts), over a sliding window on the database's clock, so every API process counts the same failures.

A sign-in is counted BEFORE its password is verified, and counted as a failure until it succeeds (a success forgives
itself). Checking the bound first and recording the failure after the verify let every concurrent try pass the
check: 500 wrong passwords at once were 500 guesses against a bound of 10. Here the check and the count are one
step, serialized per username and per address by transaction-scoped advisory locks, so at most `limit` sign-ins of
a username are ever being verified or have failed in the window. A blocked caller learns nothing and costs no
argon2 verify.
"""

from dataclasses import dataclass

from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import LoginFailure
from settings import Settings

# The limit-th newest failure in the window: once it has left the window, fewer than `limit` remain and a sign-in
# may be tried again. Nothing is returned while there are fewer than `limit`.
_WAIT = """
    SELECT ceil(extract(epoch FROM failed_at + make_interval(secs => :window) - now()))::int
    FROM login_failure
    WHERE {where} AND failed_at > now() - make_interval(secs => :window)
    ORDER BY failed_at DESC OFFSET :limit - 1 LIMIT 1
"""
_WAIT_BY = {
    "username": text(_WAIT.format(where="username = :value AND counts_for_username")),
    "address": text(_WAIT.format(where="address = :value")),
}
# One lock space per bound (the two-key form of pg_advisory_xact_lock), taken in this order by every sign-in, so two
# sign-ins never wait on each other in a cycle. Held until the count commits.
_LOCK = text("SELECT pg_advisory_xact_lock(:space, hashtext(:value))")
_LOCK_SPACE = {"username": 18_001, "address": 18_002}


@dataclass(frozen=True)
class Blocked:
    what: str  # "username" or "address": the bound that holds
    seconds: int  # until a sign-in may be tried again


async def count_attempt(db: AsyncSession, username: str, address: str, settings: Settings) -> Blocked | int:
    """Count a sign-in about to be verified: the id of its row (a failure until `forgive`n), or Blocked when either
    bound is already reached (then nothing is counted)."""
    bounds = (
        ("username", username[:150], settings.login_failures_per_username),
        ("address", address[:64], settings.login_failures_per_address),
    )
    for column, value, _ in bounds:
        await db.execute(_LOCK, {"space": _LOCK_SPACE[column], "value": value})
    waits = []
    for column, value, limit in bounds:
        params = {"value": value, "window": settings.login_failure_window_seconds, "limit": max(limit, 1)}
        seconds = await db.scalar(_WAIT_BY[column], params)
        if seconds is not None:
            waits.append(Blocked(column, max(int(seconds), 1)))
    if waits:
        await db.commit()
        return max(waits, key=lambda wait: wait.seconds)
    attempt = LoginFailure(username=username[:150], address=address[:64])
    db.add(attempt)
    await db.flush()
    attempt_id = attempt.id
    # Failures too old to count are rare: dropping them here keeps the table small.
    window = text("now() - make_interval(secs => :window)").bindparams(window=settings.login_failure_window_seconds)
    await db.execute(delete(LoginFailure).where(LoginFailure.failed_at < window))
    await db.commit()
    return attempt_id


async def forgive(db: AsyncSession, attempt: int) -> None:
    """A counted sign-in that made no guess after all (the verify was refused for load): it counts for nothing."""
    await db.execute(delete(LoginFailure).where(LoginFailure.id == attempt))
    await db.commit()


async def forget_failures(db: AsyncSession, username: str, attempt: int) -> None:
    """A successful sign-in: its own attempt is no failure, and it clears its username's count. The address's count
    keeps the earlier failures: that bound is for one place trying many accounts, and one account it gets into does
    not make the others' tries innocent."""
    await db.execute(delete(LoginFailure).where(LoginFailure.id == attempt))
    await db.execute(
        update(LoginFailure)
        .where(LoginFailure.username == username, LoginFailure.counts_for_username)
        .values(counts_for_username=False)
    )
    await db.commit()
