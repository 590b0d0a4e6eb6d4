"""The bound on failed sign-ins: per username (guessing one account's password) and per address (trying many
accounts), over a sliding window on the database's clock, so every API process counts the same failures.

Checked before the password is: a blocked caller learns nothing, and costs no argon2 verify.
"""

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


async def blocked_for(db: AsyncSession, username: str, address: str, settings: Settings) -> tuple[str, int] | None:
    """(the bound that holds, seconds until a sign-in may be tried), or None while both are under their limit."""
    waits = []
    for column, value, limit in (
        ("username", username, settings.login_failures_per_username),
        ("address", address, settings.login_failures_per_address),
    ):
        params = {"value": value, "window": settings.login_failure_window_seconds, "limit": max(limit, 1)}
        seconds = await db.scalar(_WAIT_BY[column], params)
        if seconds is not None:
            waits.append((column, max(int(seconds), 1)))
    return max(waits, key=lambda wait: wait[1], default=None)


async def record_failure(db: AsyncSession, username: str, address: str, settings: Settings) -> None:
    """Count a failed sign-in, and drop failures too old to count (they are rare; this keeps the table small)."""
    db.add(LoginFailure(username=username[:150], address=address[:64]))
    window = text("now() - make_interval(secs => :window)").bindparams(window=settings.login_failure_window_seconds)
    await db.execute(delete(LoginFailure).where(LoginFailure.failed_at < window))
    await db.commit()


async def forget_failures(db: AsyncSession, username: str) -> None:
    """A successful sign-in clears its username's count. The address's count keeps those failures: that bound is
    for one place trying many accounts, and one account it gets into does not make the others' tries innocent."""
    await db.execute(
        update(LoginFailure)
        .where(LoginFailure.username == username, LoginFailure.counts_for_username)
        .values(counts_for_username=False)
    )
    await db.commit()
