"""Events for live clients, published through Postgres ``NOTIFY`` so they reach every API process.

Workers and API processes share only Postgres, so a worker's event travels as ``pg_notify('longrun_events',
<json>)`` and every API process ``LISTEN``s (``api/event_listener.py``). No broker, and an event published inside
a transaction goes out when that transaction commits and never if it rolls back: publish in the same
transaction as the write the event reports, and no client hears of a change that did not happen.

An event on the wire: ``{"type": <EventName>, "job_id": str | null, "seq": int | null, "owner": str | null,
"at": ISO time, "data": {...}}``. ``owner`` decides who sees it (that user and admins; null: everyone signed
in). ``seq`` numbers one job's events 1, 2, 3...: the API delivers each job's events in that order, drops a
number it already delivered (a retried activity publishes again), and waits a moment for a missing one. So a
job's producer numbers its events without gaps; ``JobEvents`` does, and its ``next_seq`` belongs in an
activity's heartbeat checkpoint so a retry goes on with the same numbers.

NOTIFY carries less than 8000 bytes, so events carry ids and counts, never content: a larger one is refused
with ``EventTooLarge`` before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

CHANNEL = "longrun_events"
# Postgres refuses a NOTIFY payload of 8000 bytes or more (default build).
MAX_PAYLOAD_BYTES = 7999


class EventName(StrEnum):
    """Every event name the tracker's frontend listens to, spelled exactly as it spells them."""

    ingestion_started = "ingestion.started"
    ingestion_progress = "ingestion.progress"
    ingestion_completed = "ingestion.completed"
    ingestion_failed = "ingestion.failed"
    analysis_run_started = "analysis.run_started"
    analysis_batch_completed = "analysis.batch_completed"
    analysis_run_completed = "analysis.run_completed"
    analysis_run_failed = "analysis.run_failed"
    experiment_started = "experiment_started"
    experiment_progress = "experiment_progress"
    experiment_completed = "experiment_completed"
    experiment_failed = "experiment_failed"
    knowledge_extraction_started = "knowledge.extraction_started"
    knowledge_extraction_completed = "knowledge.extraction_completed"
    knowledge_extraction_failed = "knowledge.extraction_failed"
    message_scored = "message_scored"
    batch_scored = "batch_scored"
    message_updated = "message.updated"


class EventTooLarge(ValueError):
    """The event would not fit in one NOTIFY: send ids and counts, and let clients fetch the rest."""


def encode(
    name: EventName | str,
    data: dict[str, Any],
    *,
    owner: str | None,
    job_id: str | None = None,
    seq: int | None = None,
    at: datetime | None = None,
) -> str:
    """The NOTIFY payload of one event; ValueError for an unknown name or a bad seq, EventTooLarge if too big."""
    name = EventName(name)
    if seq is not None and (job_id is None or seq < 1):
        raise ValueError("seq numbers one job's events from 1: give job_id with it")
    envelope = {
        "type": name.value,
        "job_id": job_id,
        "seq": seq,
        "owner": owner,
        "at": (at or datetime.now(UTC)).isoformat(),
        "data": data,
    }
    payload = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=str)
    size = len(payload.encode())
    if size > MAX_PAYLOAD_BYTES:
        raise EventTooLarge(
            f"event {name.value} of job {job_id} is {size} bytes; NOTIFY carries at most {MAX_PAYLOAD_BYTES}: "
            "send ids and counts, not content"
        )
    return payload


async def publish(
    db: AsyncSession | AsyncConnection,
    name: EventName | str,
    data: dict[str, Any],
    *,
    owner: str | None,
    job_id: str | None = None,
    seq: int | None = None,
) -> None:
    """Queue one event on `db`'s transaction: every API process gets it when the caller commits."""
    payload = encode(name, data, owner=owner, job_id=job_id, seq=seq)
    await db.execute(text("select pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


async def publish_many(
    db: AsyncSession | AsyncConnection,
    events: Sequence[tuple[EventName | str, dict[str, Any]]],
    *,
    owner: str | None,
) -> None:
    """Queue events that belong to no job on `db`'s transaction in one statement: a batch of 200 saved messages
    is one round trip, not 200."""
    if not events:
        return
    payloads = [encode(name, data, owner=owner) for name, data in events]
    await db.execute(
        text("select pg_notify(:channel, payload) from unnest(cast(:payloads as text[])) as payload"),
        {"channel": CHANNEL, "payloads": payloads},
    )


@dataclass
class JobEvents:
    """One job's events, numbered without gaps. Keep `next_seq` in the workflow's state or the activity's
    heartbeat, so a retry numbers the events it publishes again as it did the first time."""

    job_id: str
    owner: str | None
    next_seq: int = 1

    async def publish(self, db: AsyncSession | AsyncConnection, name: EventName | str, data: dict[str, Any]) -> int:
        """Publish the next event of the job on `db`'s transaction; answers the number it got."""
        seq = self.next_seq
        await publish(db, name, data, owner=self.owner, job_id=self.job_id, seq=seq)
        self.next_seq = seq + 1
        return seq
