"""Is the service usable: the database and Temporal, each checked on every call."""

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    # "ok", or "unavailable: <why>"
    database: str
    temporal: str


@router.get("/api/v1/health", responses={503: {"model": Health, "description": "a part is unavailable"}})
async def health(request: Request, response: Response) -> Health:
    try:
        async with request.app.state.sessions() as session:
            await session.execute(text("select 1"))
        database = "ok"
    except Exception as exc:  # a health probe reports every failure; it never raises one
        database = f"unavailable: {type(exc).__name__}"
    temporal = "ok" if await request.app.state.temporal.healthy() else "unavailable"
    ok = database == "ok" and temporal == "ok"
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "degraded", database=database, temporal=temporal)
