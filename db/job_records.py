"""The record of every job (db/models/jobs.py): written by the job when it starts and closes (workflows/job_records.py),
corrected by the API when Temporal says a run ended without a word, and read by the API once Temporal no longer has
the job (past the namespace's retention).

One row per job id. A start of another run chain under the id (a natural key reused by a later job) starts the row
afresh; a start of the same chain (continue-as-new) keeps its start time and input; a write for an older chain, or
a start of a chain already closed (a retried write landing late), changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import JobRecord

# What a record keeps of a job's input and result, as JSON text: a job's result may list every item it touched.
# An input larger than this is kept as its summary only (the job cannot be rerun past retention); a larger result
# keeps its status and progress, with `truncated: true`.
INPUT_LIMIT = 64 * 1024
RESULT_LIMIT = 64 * 1024
ERROR_LIMIT = 2000
# The summary a listing (and a joined start: api/job_runs.py) shows: the input's top-level plain fields, text cut short.
SUMMARY_FIELDS = 20
SUMMARY_TEXT = 200
COUNTS = ("total", "processed", "succeeded", "skipped", "failed")
OPEN = "running"


def size_of(value: Any) -> int:
    return len(json.dumps(value, default=str, ensure_ascii=False))


def summary(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    plain: dict[str, Any] = {}
    for name, field in list(value.items())[:SUMMARY_FIELDS]:
        if isinstance(field, str):
            plain[str(name)] = field[:SUMMARY_TEXT]
        elif field is None or isinstance(field, bool | int | float):
            plain[str(name)] = field
    return plain


def bounded_result(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The result as it is when small enough; else its status and progress (without the job's own details)."""
    if result is None or size_of(result) <= RESULT_LIMIT:
        return result
    kept: dict[str, Any] = {"status": result.get("status"), "truncated": True}
    progress = result.get("progress")
    if isinstance(progress, dict):
        kept["progress"] = {**progress, "details": {}, "errors": progress.get("errors", [])[-5:]}
        if size_of(kept) > RESULT_LIMIT:
            kept["progress"] = {k: v for k, v in progress.items() if k in COUNTS or k in ("status", "percent")}
    return kept


def bounded_progress(progress: dict[str, Any]) -> dict[str, Any]:
    if size_of(progress) <= RESULT_LIMIT:
        return progress
    return {
        **progress,
        "details": {},
        "errors": progress.get("errors", [])[-5:],
        "message": str(progress.get("message"))[:ERROR_LIMIT],
    }


def counts_of(progress: dict[str, Any]) -> dict[str, int]:
    return {name: int(progress.get(name) or 0) for name in COUNTS}


def counts_in(record: JobRecord) -> dict[str, int]:
    return {name: getattr(record, name) for name in COUNTS}


async def record_start(
    session: AsyncSession,
    *,
    job_id: str,
    first_run_id: str,
    run_id: str,
    job_type: str,
    owner: str,
    started_at: datetime,
    input: Any,
) -> None:
    now = utcnow()
    kept_input = input if size_of(input) <= INPUT_LIMIT else None
    statement = insert(JobRecord).values(
        job_id=job_id,
        first_run_id=first_run_id,
        run_id=run_id,
        job_type=job_type,
        owner=owner,
        input_summary=summary(input),
        input=kept_input,
        status=OPEN,
        **dict.fromkeys(COUNTS, 0),
        progress=None,
        result=None,
        error=None,
        started_at=started_at,
        closed_at=None,
        updated_at=now,
    )
    row, new = JobRecord.__table__.c, statement.excluded
    same_chain = row.first_run_id == new.first_run_id

    def kept_if_same(column: str) -> Any:
        return case((same_chain, row[column]), else_=new[column])

    statement = statement.on_conflict_do_update(
        index_elements=[row.job_id],
        set_={
            "first_run_id": new.first_run_id,
            "run_id": new.run_id,
            "job_type": new.job_type,
            "owner": new.owner,
            "input_summary": kept_if_same("input_summary"),
            "input": kept_if_same("input"),
            "started_at": kept_if_same("started_at"),
            **{name: kept_if_same(name) for name in COUNTS},
            "status": new.status,
            "progress": kept_if_same("progress"),
            "result": None,
            "error": None,
            "closed_at": None,
            "updated_at": new.updated_at,
        },
        # A chain already closed is not reopened by a start written late; an older chain's start changes nothing.
        where=or_(and_(~same_chain, row.started_at <= new.started_at), and_(same_chain, row.closed_at.is_(None))),
    )
    await session.execute(statement)
    await session.commit()


async def record_close(
    session: AsyncSession,
    *,
    job_id: str,
    first_run_id: str,
    run_id: str,
    job_type: str,
    owner: str,
    started_at: datetime,
    status: str,
    progress: dict[str, Any],
    result: dict[str, Any] | None,
    error: str | None,
    closed_at: datetime,
    correcting: bool = False,
) -> None:
    """The job's end. `correcting`: the API writes what Temporal says of a run that ended without writing it (its
    chain is known by its last run only), and never over an end the job wrote itself."""
    values = {
        "status": status,
        **counts_of(progress),
        "progress": bounded_progress(progress),
        "result": bounded_result(result),
        "error": error[:ERROR_LIMIT] if error else None,
        "closed_at": closed_at,
        "updated_at": utcnow(),
        "run_id": run_id,
    }
    statement = insert(JobRecord).values(
        job_id=job_id,
        first_run_id=first_run_id,
        job_type=job_type,
        owner=owner,
        input_summary=None,
        input=None,
        started_at=started_at,
        **values,
    )
    row = JobRecord.__table__.c
    if correcting:
        where = and_(row.run_id == run_id, row.closed_at.is_(None))
    else:
        where = row.first_run_id == first_run_id
    statement = statement.on_conflict_do_update(index_elements=[row.job_id], set_=values, where=where)
    await session.execute(statement)
    await session.commit()


async def get(session: AsyncSession, job_id: str) -> JobRecord | None:
    # Read afresh: a session that has just corrected the row must not answer its own copy from before.
    return await session.get(JobRecord, job_id, populate_existing=True)


async def closed_jobs(
    session: AsyncSession,
    *,
    limit: int,
    job_type: str | None = None,
    left_out_types: Collection[str] = (),
    statuses: Collection[str] | None = None,
    owner: str | None = None,
    left_out_owners: Collection[str] = (),
) -> list[JobRecord]:
    """Closed jobs newest first, by the jobs list's filters (each None matches all)."""
    query = select(JobRecord).where(JobRecord.closed_at.is_not(None))
    if job_type is not None:
        query = query.where(JobRecord.job_type == job_type)
    if left_out_types:
        query = query.where(JobRecord.job_type.not_in(list(left_out_types)))
    if statuses is not None:
        query = query.where(JobRecord.status.in_(list(statuses)))
    if owner is not None:
        query = query.where(JobRecord.owner == owner)
    if left_out_owners:
        query = query.where(JobRecord.owner.not_in(list(left_out_owners)))
    query = query.order_by(JobRecord.started_at.desc(), JobRecord.job_id).limit(limit)
    return list((await session.scalars(query)).all())


async def closed_counts(session: AsyncSession, job_ids: Collection[str]) -> dict[str, dict[str, int]]:
    """The counts each of these jobs ended with, by job id; a job whose record is missing or open is left out."""
    query = select(JobRecord.job_id, *(JobRecord.__table__.c[name] for name in COUNTS)).where(
        JobRecord.job_id.in_(list(job_ids)), JobRecord.closed_at.is_not(None)
    )
    return {job_id: dict(zip(COUNTS, counts, strict=True)) for job_id, *counts in await session.execute(query)}


async def delete_closed_before(session: AsyncSession, before: datetime) -> list[str]:
    """Forget the jobs that closed before `before` (an admin's clean-up); answers their ids."""
    deleted = await session.scalars(delete(JobRecord).where(JobRecord.closed_at < before).returning(JobRecord.job_id))
    ids = list(deleted.all())
    await session.commit()
    return ids


async def still_open(session: AsyncSession, runs: Collection[tuple[str, str]]) -> list[str]:
    """Of these (job id, run id), the jobs whose record is open for that very run."""
    query = select(JobRecord.job_id).where(
        tuple_(JobRecord.job_id, JobRecord.run_id).in_(list(runs)), JobRecord.closed_at.is_(None)
    )
    return list((await session.scalars(query)).all())
