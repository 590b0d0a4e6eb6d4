"""Shared steps of the WebBuddy tests."""

from sqlalchemy import text

from devstack.clients import Api, eventually

# Fast sweeps so a test sees the schedule act within seconds (production: 30 s, 30 s, 10 min).
FAST_RECONCILE = {
    "LONGRUN_WEBBUDDY_RECONCILE_SECONDS": "2",
    "LONGRUN_WEBBUDDY_GRACE_SECONDS": "1",
    "LONGRUN_WEBBUDDY_STALE_CLAIM_SECONDS": "3",
}


async def new_query(api: Api, project: int, text_: str = "Протестировать авторизацию") -> dict:
    return await api.ok("POST", "/api/queries/", 201, json={"project": project, "query_text": text_})


async def wait_query(api: Api, query_id: int, statuses=("done", "failed"), within: float = 60) -> dict:
    async def settled():
        query = await api.ok("GET", f"/api/queries/{query_id}/")
        return query if query["status"] in statuses else None

    return await eventually(settled, f"query {query_id} to reach {statuses}", within)


async def logs_by_stage(database, query_id: int) -> dict[str | None, int]:
    async with database.connect() as conn:
        rows = await conn.execute(
            text("select stage, count(*) from query_log where query_id = :q group by stage"), {"q": query_id}
        )
        return {row.stage: row.count for row in rows}


async def queued_without_workflow(database, owner: Api) -> int:
    """A queued query written straight to the database, as if Temporal had been down when it was created."""
    async with database.begin() as conn:
        return await conn.scalar(
            text(
                "insert into query (project_id, user_id, query_text, status, query_created)"
                " select :p, id, 'left behind', 'queued', now() from users where username = :u"
                " returning id"
            ),
            {"p": owner.project, "u": owner.username},
        )
