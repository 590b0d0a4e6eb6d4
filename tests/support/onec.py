"""What the 1C tests share: the period and book they sync, starting a sync and waiting for it, and a count."""

from sqlalchemy import text

from devstack.clients import Api

PERIOD = {"date_from": "2024-01-01", "date_to": "2024-12-31"}
BOOK = {"seed": 7, "documents": 5000, "contractors": 800, "folders": 5, "pending_contractors": 5}


async def sync(api: Api, what: str, within: float = 120, **body) -> dict:
    path = f"/api/v1/sync-1c/{what}/sync-async"
    task_id = (await api.ok("POST", path, 202, json=body or None))["task_id"]
    return await api.wait_job(task_id, within)


async def count(database, sql: str):
    """The one value `sql` selects."""
    async with database.connect() as conn:
        return await conn.scalar(text(sql))
