"""Is the service usable: the database, Temporal, and an admin to sign in as, each checked on every call.

Ready means a person can use it: until bootstrap has made the admin user nobody can sign in, so the answer is 503
even with every part up (orchestrators and `make up` wait on this)."""

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import exists, select

from db.models.users import Role, User

router = APIRouter(tags=["health"])

NO_ADMIN = "unavailable: no admin user yet (python -m devstack.bootstrap makes one)"


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    # "ok", or "unavailable: <why>"
    database: str
    temporal: str
    setup: str


@router.get("/api/v1/health", responses={503: {"model": Health, "description": "a part is unavailable"}})
async def health(request: Request, response: Response) -> Health:
    setup = "unknown: the database did not answer"
    try:
        async with request.app.state.sessions() as session:
            has_admin = await session.scalar(select(exists().where(User.role == Role.admin.value)))
        database = "ok"
        setup = "ok" if has_admin else NO_ADMIN
    except Exception as exc:  # a health probe reports every failure; it never raises one
        database = f"unavailable: {type(exc).__name__}"
    temporal = "ok" if await request.app.state.temporal.healthy() else "unavailable"
    ok = database == temporal == setup == "ok"
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "degraded", database=database, temporal=temporal, setup=setup)
