"""Passwords (argon2) and JWT access/refresh tokens."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

from db.models import Role
from settings import Settings

_hasher = PasswordHash.recommended()
ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher.verify(password, password_hash)


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


def jwt_secret(settings: Settings) -> str:
    """The configured secret, else one generated once and kept in the data dir so restarts keep tokens valid."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = settings.data_dir / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self._secret = jwt_secret(settings)
        self._access_ttl = timedelta(hours=settings.access_token_hours)
        self._refresh_ttl = timedelta(days=settings.refresh_token_days)

    def access(self, who: Principal) -> str:
        return self._encode(who, "access", self._access_ttl)

    def refresh(self, who: Principal) -> str:
        return self._encode(who, "refresh", self._refresh_ttl)

    def _encode(self, who: Principal, kind: str, ttl: timedelta) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": who.username,
            "uid": who.id,
            "role": who.role.value,
            "type": kind,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, kind: str = "access") -> Principal:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        if claims.get("type") != kind:
            raise InvalidToken(f"not an {kind} token")
        try:
            return Principal(id=int(claims["uid"]), username=claims["sub"], role=Role(claims["role"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("invalid token") from exc
