"""The tracker's webhook under load: Telegram delivering `--rate` updates/s for `--seconds`, open loop.

Measures what the issue names: the webhook's answer time (p50/p99; goal p99 <= 50 ms) and the WAL flushes the
server made per update during the burst (the drainer's commits included; about 1 without group commit), the time
from sending an update to its `message_scored` event reaching a listener (the NOTIFY goes out when the drainer's
transaction commits; goal p50 <= 1 s), and the backlog left when the burst ends (updates stored, not yet saved)
and how long it takes to drain. Open loop: each update is sent at its scheduled time whether or not earlier ones
were answered, so a slow webhook shows as latency, not as a lower rate.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.common import percentile
from db.events import CHANNEL
from devstack.stack import Stack

SECRET = "bench-tracker-secret"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
CHATS = 20
AUTHORS = 200
TEXTS = [
    "the billing export failed again after the deploy, who can look at it today",
    "invoice numbers skip after the migration, we need a fix before friday",
    "login page is slow for users in the eu region since the cdn change",
    "can we move the roadmap review to thursday, the sprint demo overlaps",
    "ok",
    "thanks!",
]


def body(n: int, now: float) -> dict[str, Any]:
    return {
        "update_id": 50_000_000 + n,
        "message": {
            "message_id": 1_000 + n,
            "from": {"id": 80_000 + n % AUTHORS, "is_bot": False, "first_name": f"Member {n % AUTHORS}"},
            "chat": {"id": -(60_000 + n % CHATS), "type": "supergroup", "title": "team"},
            "date": int(now),
            "text": f"{TEXTS[n % len(TEXTS)]} #{n}",
        },
    }


class RawPoster:
    """Keep-alive HTTP/1.1 POSTs over plain asyncio streams. httpx costs about as much CPU per request as the
    webhook itself; on two shared cores the load generator would then measure its own cost. Up to `connections`
    sockets, opened as the open loop needs them."""

    def __init__(self, url: str, path: str, headers: dict[str, str], connections: int = 64) -> None:
        parsed = httpx.URL(url)
        self._host, self._port = parsed.host, parsed.port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._head = f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n{extra}"
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._gate = asyncio.Semaphore(connections)
        self._all: list[asyncio.StreamWriter] = []

    async def post(self, payload: bytes) -> int:
        async with self._gate:
            if self._idle:
                try:
                    return await self._exchange(*self._idle.pop(), payload)
                except (ConnectionError, asyncio.IncompleteReadError):
                    pass  # the server closed an idle keep-alive (uvicorn: after 5 s): reconnect, as a client would
            reader, writer = await asyncio.open_connection(self._host, self._port)
            self._all.append(writer)
            return await self._exchange(reader, writer, payload)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> int:
        writer.write(f"{self._head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        self._idle.append((reader, writer))
        return status

    async def close(self) -> None:
        for writer in self._all:
            writer.close()


class ScoredListener:
    """When each message's `message_scored` NOTIFY arrived, by message row id."""

    def __init__(self) -> None:
        self.arrived: dict[int, float] = {}
        self.changed = asyncio.Event()
        self._conn: asyncpg.Connection | None = None

    async def start(self, dsn: str) -> None:
        # asyncpg.connect is unannotated, so the attribute would keep its Optional: the local names what it gives.
        conn: asyncpg.Connection = await asyncpg.connect(dsn)
        self._conn = conn
        await conn.add_listener(CHANNEL, self._notified)

    def _notified(self, *args) -> None:
        payload = args[-1]
        if '"message_scored"' in payload:
            self.arrived.setdefault(json.loads(payload)["data"]["message_id"], time.monotonic())
            self.changed.set()

    async def wait_for(self, row_ids: set[int], within: float) -> None:
        """Until every one of these messages' events has arrived (NOTIFY trails the commit a little)."""
        async with asyncio.timeout(within):
            while not row_ids <= self.arrived.keys():
                self.changed.clear()
                await self.changed.wait()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


async def wal_flushes(engine: AsyncEngine) -> int:
    """WAL fsyncs so far, by every process of the server: what a commit waits for, and what group commit shares."""
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT coalesce(sum(fsyncs), 0) FROM pg_stat_io WHERE object = 'wal'")))


async def measure(stack: Stack, api_url: str, rate: float, seconds: float) -> dict[str, Any]:
    dsn = stack.pg.database_url.replace("+asyncpg", "")
    listener = ScoredListener()
    await listener.start(dsn)
    engine = create_async_engine(stack.pg.database_url, pool_size=2)
    total = int(rate * seconds)
    sent_at: dict[int, float] = {}
    answer_ms: list[float] = []
    failures = 0
    poster = RawPoster(api_url, "/webhook/telegram", HEADERS)
    try:
        # Warm the connections and the drainer, outside the measurement.
        for n in range(20):
            await poster.post(json.dumps(body(total + 1000 + n, time.time())).encode())

        async def send(n: int) -> None:
            nonlocal failures
            payload = json.dumps(body(n, time.time())).encode()
            started = time.monotonic()
            try:
                status = await poster.post(payload)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                status = repr(exc)
            answer_ms.append((time.monotonic() - started) * 1000)
            if status == 200:
                sent_at[1_000 + n] = started
            else:
                failures += 1
                if failures <= 3:
                    print(f"update {n}: {status}", flush=True)

        flushes_before = await wal_flushes(engine)
        t0 = time.monotonic()
        tasks = []
        for n in range(total):
            delay = t0 + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(n)))
        await asyncio.gather(*tasks)
        burst_s = time.monotonic() - t0
        flushes = await wal_flushes(engine) - flushes_before
    finally:
        await poster.close()

    async with engine.connect() as conn:
        backlog = await conn.scalar(text("SELECT count(*) FROM telegram_update WHERE saved_at IS NULL"))
    drain_started = time.monotonic()
    while True:
        async with engine.connect() as conn:
            left = await conn.scalar(text("SELECT count(*) FROM telegram_update WHERE saved_at IS NULL"))
            scored = await conn.scalar(text("SELECT count(importance_score) FROM message"))
        if left == 0 and scored >= len(sent_at) + 20:
            break
        if time.monotonic() - drain_started > 600:
            raise TimeoutError(f"{left} updates still waiting 600 s after the burst")
        await asyncio.sleep(0.1)
    drain_s = time.monotonic() - drain_started
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, telegram_message_id FROM message"))).all()
    row_of = {telegram_id: row_id for row_id, telegram_id in rows}
    await listener.wait_for({row_of[m] for m in sent_at}, within=30)
    to_scored_ms = [(listener.arrived[row_of[m]] - started) * 1000 for m, started in sent_at.items()]
    await listener.close()
    await engine.dispose()
    return {
        "rate": rate,
        "seconds": seconds,
        "updates": total,
        "achieved_rate": round(total / burst_s, 1),
        "failed_answers": failures,
        "webhook_p50_ms": round(percentile(answer_ms, 50), 1),
        "webhook_p99_ms": round(percentile(answer_ms, 99), 1),
        "webhook_max_ms": round(max(answer_ms), 1),
        "wal_flushes_per_update": round(flushes / total, 3),
        "scored_events": len(to_scored_ms),
        "to_scored_p50_ms": round(percentile(to_scored_ms, 50), 1),
        "to_scored_p99_ms": round(percentile(to_scored_ms, 99), 1),
        "backlog_after_burst": backlog,
        "drain_s": round(drain_s, 2),
    }
