"""Connections Postgres drops (a restart does) cost at most one request per API process, answered 503, never 500.

The pool does not ping on checkout (db/session.py: it cost more than the statements it guarded); this shows what
replaces the ping: the request that finds a dead connection is told to try again, and the next one works.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from db.session import database_unavailable
from devstack.clients import Api
from devstack.stack import Stack

LIST = "/api/v1/messages"


async def drop_api_connections(database: AsyncEngine) -> int:
    async with database.begin() as conn:
        return await conn.scalar(
            text(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                "where application_name like 'longrun-api-%' and pid <> pg_backend_pid()"
            )
        )


async def test_a_dropped_connection_costs_one_503_then_requests_work(stack: Stack, admin: Api) -> None:
    # Several requests at once, so the pool holds more than one connection to lose.
    await asyncio.gather(*(admin.ok("GET", LIST, params={"limit": 1}) for _ in range(5)))
    engine = stack.database()
    try:
        assert await drop_api_connections(engine) >= 1
    finally:
        await engine.dispose()

    answers = [await admin.http.get(LIST, params={"limit": 1}) for _ in range(6)]
    statuses = [a.status_code for a in answers]
    failed = [a for a in answers if a.status_code != 200]
    # The one request that found a dead connection is a 503 that says why; every later one is served.
    assert len(failed) <= 1, statuses
    for answer in failed:
        assert answer.status_code == 503, answer.text
        assert "database connection was lost" in answer.json()["detail"]
        assert answer.headers["Retry-After"]
    assert statuses[-1] == 200


async def test_a_database_that_is_down_is_told_from_a_bug(tmp_path) -> None:
    """Postgres down or starting answers 503 too: asyncpg lets the socket's own error through, unwrapped."""
    (tmp_path / ".s.PGSQL.5432").touch()  # the socket file a killed server leaves behind
    engines = {
        "refused": create_async_engine(f"postgresql+asyncpg://postgres@/x?host={tmp_path}"),
        "missing": create_async_engine(f"postgresql+asyncpg://postgres@/x?host={tmp_path / 'gone'}"),
    }
    for what, engine in engines.items():
        try:
            with pytest.raises(OSError) as raised:
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()
        assert database_unavailable(raised.value), (what, raised.value)
    with pytest.raises(FileNotFoundError) as elsewhere:
        open(tmp_path / "no-such-export.json")  # noqa: ASYNC230 - the error, not the I/O, is under test
    assert not database_unavailable(elsewhere.value)
