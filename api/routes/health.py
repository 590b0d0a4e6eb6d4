from fastapi import APIRouter, Request, Response
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/api/v1/health")
async def health(request: Request, response: Response) -> dict:
    try:
        async with request.app.state.sessions() as session:
            await session.execute(text("select 1"))
        database = "ok"
    except Exception as exc:
        database = f"unavailable: {type(exc).__name__}"
    temporal = "ok" if await request.app.state.temporal.healthy() else "unavailable"
    ok = database == "ok" and temporal == "ok"
    if not ok:
        response.status_code = 503
    return {"status": "ok" if ok else "degraded", "database": database, "temporal": temporal}
