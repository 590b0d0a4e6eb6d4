"""Request dependencies as `Annotated` aliases: a route names what it needs (`session: SessionDep`,
`who: Editors`) and FastAPI provides it. Roles come from `Role`, never from string literals."""

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import InvalidToken, Principal, Tokens
from api.jobs import JobClosed, JobNotFound, Jobs
from api.temporal import TemporalGateway
from api.user_state import UserStates
from clients.providers import ProviderClients
from db.models import Role
from settings import Settings

_bearer = HTTPBearer(auto_error=False)
T = TypeVar("T")


async def found(session: AsyncSession, model: type[T], item_id: int, what: str) -> T:
    """The row, or a 404 naming what was asked for."""
    item = await session.get(model, item_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} {item_id} not found")
    return item


def refuse_nulls(item: Any, changes: dict[str, Any]) -> None:
    """A PATCH may not set a NOT NULL column to null: a 422 naming the field, not the database's 500. (Patch models
    make every field optional, so `null` passes their validation.)"""
    columns = sa_inspect(type(item)).columns
    for key, value in changes.items():
        if value is None and key in columns and not columns[key].nullable:
            raise field_error(key, f"{key} cannot be null")


async def save_changes(session: AsyncSession, item: T, changes: dict[str, Any]) -> T:
    """A PATCH: the fields the caller sent (`model_dump(exclude_unset=True)`), committed."""
    refuse_nulls(item, changes)
    for key, value in changes.items():
        setattr(item, key, value)
    await session.commit()
    return item


async def delete_found(session: AsyncSession, model: type, item_id: int, what: str) -> None:
    """A DELETE: the row, or a 404 naming what was asked for, deleted and committed."""
    await session.delete(await found(session, model, item_id, what))
    await session.commit()


async def cancel_job(jobs: Jobs, job_id: str, what: str, who: Principal, reason: str = "") -> None:
    """Send the job's cancel signal for a route that names it by its own row (`what`: "analysis run 7"): 404 when
    the caller has no such job, 409 when it has already finished."""
    try:
        await jobs.cancel(job_id, who, reason or f"cancelled by {who.username}", force=False)
    except JobNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{what} has no job you can cancel") from exc
    except JobClosed as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{what} has already finished") from exc


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


# The getters below are `async def` though they never await: FastAPI runs a plain `def` dependency in its thread
# pool, a thread hop per request (and per signed-in request, for the tokens) that cost more than the work.
async def get_tokens(request: Request) -> Tokens:
    return request.app.state.tokens


async def get_jobs(request: Request) -> Jobs:
    return request.app.state.jobs


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_temporal(request: Request) -> TemporalGateway:
    return request.app.state.temporal


async def get_providers(request: Request) -> ProviderClients:
    return request.app.state.providers


SessionDep = Annotated[AsyncSession, Depends(get_session)]
TokensDep = Annotated[Tokens, Depends(get_tokens)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TemporalDep = Annotated[TemporalGateway, Depends(get_temporal)]
ProvidersDep = Annotated[ProviderClients, Depends(get_providers)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def as_now(who: Principal, states: UserStates) -> Principal:
    """The token's user with the role they have now; InvalidToken when they are gone or deactivated."""
    state = await states.current(who.id)
    if state is None or not state.active:
        raise InvalidToken("user is no longer active")
    return who if state.role == who.role else replace(who, role=state.role)


async def current_user(request: Request, credentials: Credentials, tokens: TokensDep) -> Principal:
    if credentials is None:
        raise unauthorized("Authentication credentials were not provided")
    try:
        return await as_now(tokens.decode(credentials.credentials), request.app.state.user_states)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc


CurrentUser = Annotated[Principal, Depends(current_user)]


async def user_if_any(request: Request, credentials: Credentials, tokens: TokensDep) -> Principal | None:
    """None for a request with no Authorization header at all; with one, the caller as CurrentUser has it (a bad
    or expired token is a 401, never taken for no token)."""
    if "authorization" not in request.headers:
        return None
    return await current_user(request, credentials, tokens)


# For the few routes that also answer callers without a token (each says what such a caller may do).
UserIfAny = Annotated[Principal | None, Depends(user_if_any)]


def caller_address(request: Request) -> str:
    """The connection's address, or the client a trusted proxy names (uvicorn rewrites it only for the proxies in
    LONGRUN_FORWARDED_ALLOW_IPS: `python -m api`)."""
    return request.client.host if request.client else "unknown"


def field_error(field: str, message: str, where: str = "body") -> HTTPException:
    """A 422 shaped like FastAPI's own, naming the field (in the body, or `where="query"`), for checks a type
    cannot make."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": [where, field], "msg": message, "type": "value_error"}]
    )


def require_roles(*roles: Role):
    async def check(who: CurrentUser) -> Principal:
        if who.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs one of the roles: {', '.join(roles)}")
        return who

    return check


AdminOnly = Annotated[Principal, Depends(require_roles(Role.admin))]
# Who may change shared configuration (news sources, channels, links, classification rules).
Editors = Annotated[Principal, Depends(require_roles(Role.admin, Role.manager))]
# People, not service accounts: who may start jobs of their own.
People = Annotated[Principal, Depends(require_roles(Role.admin, Role.manager, Role.user))]
# Who processes the WebBuddy queue from outside (claim_next).
QueueWorkers = Annotated[Principal, Depends(require_roles(Role.worker, Role.admin))]
