"""Login, token refresh, and user creation (admin only)."""

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.auth import InvalidToken, Principal, hash_password, verify_password, verify_unknown_user
from api.deps import AdminOnly, CurrentUser, SessionDep, TokensDep, unauthorized
from db.models import Role, User

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


class LoggedIn(BaseModel):
    access: str
    refresh: str
    user: UserOut


class Refreshed(BaseModel):
    access: str


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")
    password: str = Field(min_length=8, max_length=1000)
    role: Role = Role.user


def principal(user: User) -> Principal:
    return Principal(id=user.id, username=user.username, role=Role(user.role))


def user_out(who: Principal) -> UserOut:
    return UserOut(id=who.id, username=who.username, role=who.role)


@router.post("/api/login/")
async def login(body: Login, session: SessionDep, tokens: TokensDep) -> LoggedIn:
    user = await session.scalar(select(User).where(User.username == body.username))
    if user is None:
        await verify_unknown_user(body.password)
        raise unauthorized("Invalid username or password")
    if not await verify_password(body.password, user.password_hash) or not user.is_active:
        raise unauthorized("Invalid username or password")
    who = principal(user)
    return LoggedIn(access=tokens.access(who), refresh=tokens.refresh(who), user=user_out(who))


@router.post("/api/token/refresh/")
async def refresh(body: Refresh, session: SessionDep, tokens: TokensDep) -> Refreshed:
    try:
        claimed = tokens.decode(body.refresh, kind="refresh")
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc
    # A refresh re-reads the user, so a deactivated account or a changed role takes effect here.
    user = await session.get(User, claimed.id)
    if user is None or not user.is_active:
        raise unauthorized("user is no longer active")
    return Refreshed(access=tokens.access(principal(user)))


@router.get("/api/v1/users/me")
async def me(who: CurrentUser) -> UserOut:
    return user_out(who)


@router.post("/api/v1/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: NewUser, session: SessionDep, _: AdminOnly) -> UserOut:
    user = User(username=body.username, password_hash=await hash_password(body.password), role=body.role)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"username {body.username!r} is taken") from exc
    return user_out(principal(user))
