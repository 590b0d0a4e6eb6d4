"""Request dependencies: settings, database session, the caller, role checks, the job service."""

from collections.abc import AsyncIterator

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import InvalidToken, Principal, Tokens
from api.jobs import Jobs

_bearer = HTTPBearer(auto_error=False)


async def db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def tokens(request: Request) -> Tokens:
    return request.app.state.tokens


def jobs(request: Request) -> Jobs:
    return request.app.state.jobs


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


async def current_user(
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer), tokens: Tokens = Depends(tokens)
) -> Principal:
    if credentials is None:
        raise unauthorized("Authentication credentials were not provided")
    try:
        return tokens.decode(credentials.credentials)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc


def field_error(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own, naming the field, for checks only the database can make."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, [{"loc": ["body", field], "msg": message, "type": "value_error"}]
    )


def require_roles(*roles: str):
    async def check(who: Principal = Depends(current_user)) -> Principal:
        if who.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs one of the roles: {', '.join(roles)}")
        return who

    return check


admin_only = require_roles("admin")
editors = require_roles("admin", "manager")
people = require_roles("admin", "manager", "user")
