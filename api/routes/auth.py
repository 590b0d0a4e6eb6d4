"""Login (bounded failures), token refresh (rotated; kept for service accounts), logout, and user creation (admin)."""

from datetime import datetime, timedelta

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.auth import (
    HashingBusy,
    InvalidToken,
    Principal,
    RefreshClaims,
    Tokens,
    hash_password,
    verify_password,
    verify_unknown_user,
)
from api.deps import AdminOnly, CurrentUser, SessionDep, SettingsDep, TokensDep, caller_address, unauthorized
from api.jobs import UNATTENDED_OWNERS
from db.login_failures import Blocked, count_attempt, forget_failures, forgive
from db.models import Role, User
from db.sign_in_sessions import SessionEnded, end_session, open_session, rotate

router = APIRouter(tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1000)


class Refresh(BaseModel):
    refresh: str = Field(min_length=1)


class UserOut(BaseModel):
    id: int
    username: str
    role: Role


class LinkedTelegram(BaseModel):
    user_id: int
    # Telegram's language code for the account when it linked: the notices' language.
    language: str | None
    linked_at: datetime | None


class Me(UserOut):
    # The Telegram account linked (POST /api/v1/users/me/telegram/link); null when none is.
    telegram: LinkedTelegram | None


class LoggedIn(BaseModel):
    access: str
    refresh: str
    user: UserOut


class Refreshed(BaseModel):
    access: str
    # The refresh token to use next time (the one sent is spent; a service account's is kept and sent back); null
    # when another tab has just rotated it and the newer one is already the caller's.
    refresh: str | None


# Owners that jobs started by no person carry (JobOwner): a new user may not take one (and an existing one owns
# nothing by it: may_see).
RESERVED_USERNAMES = UNATTENDED_OWNERS


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")
    password: str = Field(min_length=8, max_length=1000)
    role: Role = Role.user

    @field_validator("username")
    @classmethod
    def _not_reserved(cls, username: str) -> str:
        if username.casefold() in RESERVED_USERNAMES:
            raise ValueError(f"{username!r} is reserved: jobs started by no person are owned by it")
        return username


def principal(user: User) -> Principal:
    return Principal(id=user.id, username=user.username, role=Role(user.role))


def user_out(who: Principal) -> UserOut:
    return UserOut(id=who.id, username=who.username, role=who.role)


@router.post(
    "/api/login/",
    responses={
        429: {"description": "too many failed sign-ins for this username or from this address"},
        503: {"description": "too many passwords being checked at once (Retry-After)"},
    },
)
async def login(
    body: Login, request: Request, session: SessionDep, tokens: TokensDep, settings: SettingsDep
) -> LoggedIn:
    attempt = await count_attempt(session, body.username, caller_address(request), settings)
    if isinstance(attempt, Blocked):
        where = "for this username" if attempt.what == "username" else "from this address"
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed sign-ins {where}; try again in {attempt.seconds} s",
            headers={"Retry-After": str(attempt.seconds)},
        )
    try:
        user = await session.scalar(select(User).where(User.username == body.username))
        if user is None:
            await verify_unknown_user(body.password)
        # The attempt is already counted as a failure: a wrong password needs nothing more.
        if user is None or not await verify_password(body.password, user.password_hash) or not user.is_active:
            raise unauthorized("Invalid username or password")
    except HashingBusy:
        await forgive(session, attempt)  # no password was tried; the app answers 503
        raise
    await forget_failures(session, user.username, attempt)
    who = principal(user)
    sid, jti = await open_session(session, user.id, tokens.refresh_ttl)
    return LoggedIn(access=tokens.access(who), refresh=tokens.refresh(who, sid, jti), user=user_out(who))


def refresh_claims(token: str, tokens: Tokens) -> RefreshClaims:
    try:
        return tokens.decode_refresh(token)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc


@router.post("/api/token/refresh/")
async def refresh(body: Refresh, session: SessionDep, tokens: TokensDep, settings: SettingsDep) -> Refreshed:
    claimed = refresh_claims(body.refresh, tokens)
    # A refresh re-reads the user, so a deactivated account or a changed role takes effect here.
    user = await session.get(User, claimed.who.id)
    if user is None or not user.is_active:
        raise unauthorized("user is no longer active")
    grace = timedelta(seconds=settings.refresh_reuse_grace_seconds)
    keep = service_session(claimed, user)
    try:
        jti = await rotate(session, claimed.sid, claimed.jti, tokens.refresh_ttl, grace, keep=keep)
    except SessionEnded as exc:
        raise unauthorized(str(exc)) from exc
    who = principal(user)
    if keep and jti == claimed.jti:
        # The same token back, not a new one for the same id: a new one would carry a later expiry.
        return Refreshed(access=tokens.access(who), refresh=body.refresh)
    return Refreshed(access=tokens.access(who), refresh=tokens.refresh(who, claimed.sid, jti) if jti else None)


def service_session(claimed: RefreshClaims, user: User) -> bool:
    """Whether the session's refresh token is kept rather than rotated: it was signed in as a worker (a service
    account: WebBuddy's queue workers) and still is one.

    WebBuddy's worker client keeps the first refresh token it gets and refreshes with it every day, so rotation would
    end its session at its second refresh. Reuse detection guards tokens people's browsers hold, where a second use
    means a copy; a worker's token sits beside the worker's password in the same process, so a copy of one is a copy
    of the other and detection would stop only the worker. What bounds a kept token: it expires
    LONGRUN_REFRESH_TOKEN_DAYS after its sign-in (its expiry never moves), logout ends it, and deactivating the account
    or changing its role stops it (then it rotates, and its next reuse ends the session)."""
    return claimed.who.role == Role.worker and user.role == Role.worker


@router.post("/api/logout/", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: Refresh, session: SessionDep, tokens: TokensDep) -> Response:
    """End the refresh token's session: neither it nor any token rotated from it refreshes again. (Access tokens
    already issued stay valid until they expire: `LONGRUN_ACCESS_TOKEN_HOURS`.)"""
    claimed = refresh_claims(body.refresh, tokens)
    await end_session(session, claimed.sid, f"signed out by {claimed.who.username}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/v1/users/me")
async def me(who: CurrentUser, session: SessionDep) -> Me:
    user = await session.get(User, who.id)
    telegram = None
    if user is not None and user.telegram_user_id is not None:
        telegram = LinkedTelegram(
            user_id=user.telegram_user_id, language=user.telegram_language, linked_at=user.telegram_linked_at
        )
    return Me(**user_out(who).model_dump(), telegram=telegram)


@router.post("/api/v1/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: NewUser, session: SessionDep, _: AdminOnly) -> UserOut:
    user = User(username=body.username, password_hash=await hash_password(body.password), role=body.role)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"username {body.username!r} is taken") from exc
    return user_out(principal(user))
