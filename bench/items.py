"""No-op items for the benchmarks: the `bench_item` table, the one write path, and the activity around it.

The table belongs to the benchmarks, not to the app's schema: `ensure_table` creates it, `truncate` empties it
between runs. `ItemWriter.write` is the only code that writes items, used both by the activity and by the
plain asyncio loop the workflow is compared with, so the comparison measures orchestration and nothing else.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from runtime.heartbeat import resumed_checkpoint

PAYLOAD = "no-op item......"  # 16 bytes

BENCH_ITEM = Table(
    "bench_item",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("batch", Integer, nullable=False),
    Column("payload", Text, nullable=False),
)
CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_item (id bigint PRIMARY KEY, batch int NOT NULL, payload text NOT NULL)"
)

# One statement per chunk whatever its size: three arrays as three parameters, idempotent on the primary key.
UNNEST_INSERT = text(
    "INSERT INTO bench_item (id, batch, payload) "
    "SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:batches AS int[]), CAST(:payloads AS text[])) "
    "ON CONFLICT DO NOTHING"
)


async def ensure_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(CREATE_TABLE))


async def truncate(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE bench_item"))


async def count_items(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(text("SELECT count(*) FROM bench_item"))


class ItemWriter:
    """Writes a chunk of consecutive items with one bulk, idempotent statement (`ON CONFLICT DO NOTHING`)."""

    # Other ways, kept so the orchestration bench can show why `unnest` was chosen.
    METHODS = ("unnest", "values", "executemany")

    def __init__(self, engine: AsyncEngine, method: str = "unnest") -> None:
        if method not in self.METHODS:
            raise ValueError(f"unknown write method {method!r}")
        self._engine = engine
        self._method = method

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def ping(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def write(self, batch: int, first_id: int, count: int) -> None:
        ids = list(range(first_id, first_id + count))
        async with self._engine.begin() as conn:
            if self._method == "unnest":
                await conn.execute(
                    UNNEST_INSERT, {"ids": ids, "batches": [batch] * count, "payloads": [PAYLOAD] * count}
                )
                return
            rows = [{"id": i, "batch": batch, "payload": PAYLOAD} for i in ids]
            if self._method == "values":
                # The app's pattern (activities/news.py): one multi-row VALUES built by SQLAlchemy core.
                await conn.execute(insert(BENCH_ITEM).values(rows).on_conflict_do_nothing())
            else:
                # executemany: SQLAlchemy's insertmanyvalues batching over asyncpg.
                await conn.execute(insert(BENCH_ITEM).on_conflict_do_nothing(), rows)


class WriteBatch(BaseModel):
    batch: int
    first_id: int
    count: int = Field(ge=1)
    # Items per insert statement, and per heartbeat checkpoint.
    chunk_size: int = Field(ge=1)
    # Pace per item (the recovery bench uses it to make items complete steadily); 0 for no-op items.
    item_delay_ms: float = 0.0


class BatchOutcome(BaseModel):
    batch: int
    written: int
    # Items of this batch an earlier attempt had already written (resumed from its heartbeat checkpoint).
    resumed_from: int = 0


class ItemActivities:
    def __init__(self, writer: ItemWriter) -> None:
        self._writer = writer

    @activity.defn(name="bench.write_items")
    async def write_items(self, inp: WriteBatch) -> BatchOutcome:
        # The checkpoint is how many items of this batch earlier attempts wrote.
        start = cursor = resumed_checkpoint(0)
        while cursor < inp.count:
            n = min(inp.chunk_size, inp.count - cursor)
            await self._writer.write(inp.batch, inp.first_id + cursor, n)
            if inp.item_delay_ms:
                await asyncio.sleep(inp.item_delay_ms * n / 1000)
            cursor += n
            activity.heartbeat(cursor)
        return BatchOutcome(batch=inp.batch, written=inp.count, resumed_from=start)
