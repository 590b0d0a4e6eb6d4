"""A signed-in user's current role and state, as the database says now rather than as their token said when it was
made: an access token lives for hours, and a deactivated or demoted user must not keep what it names for that long.

Read once per user per `ttl` seconds (LONGRUN_USER_STATE_CACHE_SECONDS) in each API process, so a change takes
effect within that; while the database is unreachable, the last answer read is used rather than none.
"""

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import Role, User
from db.session import database_unavailable

# Past this many remembered users, expired answers are dropped (a process serves far fewer at once).
_REMEMBERED = 10_000


@dataclass(frozen=True)
class UserState:
    role: Role
    active: bool


class UserStates:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl: float) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._cache: dict[int, tuple[float, UserState | None]] = {}

    async def current(self, user_id: int) -> UserState | None:
        """The user's state now (within the ttl), or None when the user no longer exists."""
        now = time.monotonic()
        cached = self._cache.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            async with self._sessions() as session:
                row = (await session.execute(select(User.role, User.is_active).where(User.id == user_id))).first()
        except Exception as exc:
            if cached is not None and database_unavailable(exc):
                return cached[1]
            raise
        state = UserState(Role(row.role), bool(row.is_active)) if row is not None else None
        if len(self._cache) >= _REMEMBERED:
            self._cache = {uid: entry for uid, entry in self._cache.items() if entry[0] > now}
        self._cache[user_id] = (now + self._ttl, state)
        return state
