"""Sign-in state the API keeps: refresh-token sessions (rotation, logout) and failed sign-ins (the login bound).

Access tokens stay stateless JWTs: checking a row on every request would put Postgres on every call's path. A
refresh token names its session and its own id (`sid`, `jti`); the session row says which id is current, so a
token used twice is seen, and a revoked session refreshes nothing.
"""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, func, true
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class AuthSession(Base):
    """One sign-in: created by a login, rotated by each refresh, ended by logout or by a reused refresh token."""

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the refresh token's `sid`
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    refresh_jti: Mapped[str] = mapped_column(String(32))  # the one refresh token that may be used next
    # The token it replaced, accepted for a few seconds after the rotation: two tabs refreshing at once.
    previous_jti: Mapped[str | None] = mapped_column(String(32))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(100))


class LoginFailure(Base):
    """A failed sign-in, counted per username and per address over a window (db/login_failures.py)."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_username_failed_at", "username", "failed_at"),
        Index("ix_login_failure_address_failed_at", "address", "failed_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))  # as typed: unknown usernames count too
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    # Cleared by the username's next successful sign-in; the address's bound still counts it.
    counts_for_username: Mapped[bool] = mapped_column(Boolean, server_default=true())
