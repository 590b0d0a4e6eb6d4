"""Refresh-token sessions: a login opens one, each refresh rotates its token, logout ends it, and a refresh token
used a second time ends it too (a copy of the token is in someone else's hands: RFC 9700's reuse detection).

A service account's session (`keep`) does not rotate: its one refresh token refreshes until the session expires. Its
clients (WebBuddy's worker) keep the first refresh token they were given, so rotation would end their session at
their second refresh; why that is safe for service accounts and not for people is in docs/webbuddy.md.

The row is locked while a refresh decides, so two refreshes with one token cannot both rotate it.
"""

import secrets
from datetime import timedelta

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import AuthSession


class SessionEnded(Exception):
    """The refresh token opens nothing; the message says why, for the 401."""


def new_id() -> str:
    return secrets.token_hex(16)


async def open_session(db: AsyncSession, user_id: int, ttl: timedelta) -> tuple[str, str]:
    """A new session's id and its first refresh token's id; sessions long expired are dropped on the way."""
    sid, jti = new_id(), new_id()
    db.add(AuthSession(id=sid, user_id=user_id, expires_at=utcnow() + ttl, refresh_jti=jti))
    await db.execute(delete(AuthSession).where(AuthSession.expires_at < func.now() - timedelta(days=1)))
    await db.commit()
    return sid, jti


async def rotate(
    db: AsyncSession, sid: str, jti: str, ttl: timedelta, grace: timedelta, *, keep: bool = False
) -> str | None:
    """The id of the refresh token that replaces `jti`; None when `jti` was replaced within `grace` (another tab
    refreshed first: answer an access token and let it keep the newer refresh token). With `keep` (a service
    account's session), `jti` itself while it is the session's token: nothing rotates and the expiry does not move,
    so the token lives no longer than the sign-in it came from. Raises SessionEnded."""
    row = await db.get(AuthSession, sid, with_for_update=True)
    now = utcnow()
    if row is None or row.expires_at <= now:
        raise SessionEnded("this session has expired; sign in again")
    if row.revoked_at is not None:
        raise SessionEnded(f"this session has ended ({row.revoked_reason}); sign in again")
    if jti == row.refresh_jti and keep:
        await db.commit()
        return jti
    if jti == row.refresh_jti:
        row.previous_jti, row.refresh_jti, row.rotated_at = jti, new_id(), now
        row.expires_at = now + ttl  # a session lasts while it is used
        await db.commit()
        return row.refresh_jti
    if jti == row.previous_jti and row.rotated_at is not None and now - row.rotated_at <= grace:
        await db.commit()
        return None
    row.revoked_at, row.revoked_reason = now, "a refresh token was used twice"
    await db.commit()
    raise SessionEnded(
        "this refresh token was already used, so its session has been ended in case it was copied; sign in again"
    )


async def end_session(db: AsyncSession, sid: str, reason: str) -> None:
    """Logout: the session's refresh tokens refresh nothing from now on (an ended session stays ended)."""
    await db.execute(
        update(AuthSession)
        .where(AuthSession.id == sid, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    await db.commit()
