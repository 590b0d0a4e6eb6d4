"""Passwords (argon2) and JWT access/refresh tokens."""

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import argon2
import jwt
from pwdlib import PasswordHash

from db.models import Role
from settings import Settings

_hasher = PasswordHash.recommended()
ALGORITHM = "HS256"

# An argon2 hash or verify is ~120 ms of CPU (64 MiB, 3 passes): on the event loop, every login would stall
# every other request for that long (bench/blocking.py). argon2-cffi releases the GIL, so a thread frees the
# loop. The pool is argon2's own and small: each hash already spreads its lanes (argon2-cffi's default
# parallelism, which pwdlib's recommended hasher keeps) over threads of its own, so more hashes at once than
# cores / lanes only queue for the CPU with the event loop in that queue (bench: p99 of a cheap GET during
# 8 logging-in clients 39 ms with 2 at once on 2 cores, 19 ms with 1). It also keeps a login burst off the
# default executor, whose threads other awaits (DNS lookups) need.
_argon2_threads = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 1) // argon2.DEFAULT_PARALLELISM), thread_name_prefix="argon2"
)


class HashingBusy(Exception):
    """More hashes are waiting for the argon2 threads than may wait: answer 503 with Retry-After now, rather than
    queue a real sign-in behind a burst of guesses (each verify ~120 ms: 500 queued are a minute)."""


class _Queue:
    """How many hashes are running or waiting for `_argon2_threads`, and how many may."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    async def run(self, fn, *args):
        if self.taken >= self.limit:
            raise HashingBusy
        self.taken += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(_argon2_threads, fn, *args)
        finally:
            self.taken -= 1


# Sized by create_app from settings.login_verify_queue; one per process, as the threads are.
argon2_queue = _Queue(16)


async def hash_password(password: str) -> str:
    return await argon2_queue.run(_hasher.hash, password)


async def verify_password(password: str, password_hash: str) -> bool:
    return await argon2_queue.run(_hasher.verify, password, password_hash)


_stand_in_hash: str | None = None


async def verify_unknown_user(password: str) -> bool:
    """As long as a real verify, and always False: an unknown username must not answer faster than a
    wrong password, or the timing tells which usernames exist."""
    global _stand_in_hash
    if _stand_in_hash is None:
        _stand_in_hash = await hash_password(secrets.token_urlsafe(16))
    await verify_password(password, _stand_in_hash)
    return False


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the token says."""

    id: int
    username: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class RefreshClaims:
    """What a refresh token names besides its user: its session and its own id (db/sign_in_sessions.py)."""

    who: Principal
    sid: str
    jti: str


def jwt_secret(settings: Settings) -> str:
    """The configured secret, else one generated once and kept in the data dir so restarts keep tokens valid."""
    if settings.jwt_secret:
        return settings.jwt_secret
    return settings.kept_secret("jwt_secret", "LONGRUN_JWT_SECRET", lambda: secrets.token_urlsafe(48))


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self._secret = jwt_secret(settings)
        self._access_ttl = timedelta(hours=settings.access_token_hours)
        self._refresh_ttl = timedelta(days=settings.refresh_token_days)

    def access(self, who: Principal) -> str:
        return self._encode(who, "access", self._access_ttl)

    @property
    def refresh_ttl(self) -> timedelta:
        return self._refresh_ttl

    def refresh(self, who: Principal, sid: str, jti: str) -> str:
        return self._encode(who, "refresh", self._refresh_ttl, sid=sid, jti=jti)

    def _encode(self, who: Principal, kind: str, ttl: timedelta, **more: str) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": who.username,
            "uid": who.id,
            "role": who.role.value,
            "type": kind,
            "iat": now,
            "exp": now + ttl,
            **more,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, kind: str = "access") -> Principal:
        return self._principal(self._claims(token, kind))

    def decode_refresh(self, token: str) -> RefreshClaims:
        claims = self._claims(token, "refresh")
        sid, jti = claims.get("sid"), claims.get("jti")
        if not isinstance(sid, str) or not isinstance(jti, str):
            raise InvalidToken("a refresh token from before sign-in sessions; sign in again")
        return RefreshClaims(self._principal(claims), sid, jti)

    def _claims(self, token: str, kind: str) -> dict:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        if claims.get("type") != kind:
            raise InvalidToken(f"not an {kind} token")
        return claims

    @staticmethod
    def _principal(claims: dict) -> Principal:
        try:
            return Principal(id=int(claims["uid"]), username=claims["sub"], role=Role(claims["role"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("invalid token") from exc
