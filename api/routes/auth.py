"""Login, token refresh, and user creation (admin only)."""

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import InvalidToken, Principal, Tokens, hash_password, verify_password
from api.deps import admin_only, current_user, db, tokens, unauthorized
from db.models import User

router = APIRouter(tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1)


class Refresh(BaseModel):
    refresh: str = Field(min_length=1)


class UserOut(BaseModel):
    id: int
    username: str
    role: str


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=150, pattern=r"^[\w.@+-]+$")
    password: str = Field(min_length=8)
    role: Literal["admin", "manager", "user", "worker"] = "user"


def principal(user: User) -> Principal:
    return Principal(id=user.id, username=user.username, role=user.role)


@router.post("/api/login/")
async def login(body: Login, session: AsyncSession = Depends(db), tokens: Tokens = Depends(tokens)) -> dict:
    user = await session.scalar(select(User).where(User.username == body.username))
    if user is None or not user.is_active or not await verify_password(body.password, user.password_hash):
        raise unauthorized("Invalid username or password")
    who = principal(user)
    return {"access": tokens.access(who), "refresh": tokens.refresh(who), "user": UserOut(**who.__dict__)}


@router.post("/api/token/refresh/")
async def refresh(body: Refresh, session: AsyncSession = Depends(db), tokens: Tokens = Depends(tokens)) -> dict:
    try:
        claimed = tokens.decode(body.refresh, kind="refresh")
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc
    # A refresh re-reads the user, so a deactivated account or a changed role takes effect here.
    user = await session.get(User, claimed.id)
    if user is None or not user.is_active:
        raise unauthorized("user is no longer active")
    return {"access": tokens.access(principal(user))}


@router.get("/api/v1/users/me", response_model=UserOut)
async def me(who: Principal = Depends(current_user)) -> UserOut:
    return UserOut(id=who.id, username=who.username, role=who.role)


@router.post("/api/v1/users", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def create_user(body: NewUser, session: AsyncSession = Depends(db), _: Principal = Depends(admin_only)):
    user = User(username=body.username, password_hash=await hash_password(body.password), role=body.role)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"username {body.username!r} is taken") from exc
    return UserOut(id=user.id, username=user.username, role=user.role)
