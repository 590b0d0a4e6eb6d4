"""The API's side of the job records (db/job_records.py): read once Temporal no longer has a job (past the namespace's
retention), and corrected when Temporal says a run closed that wrote no end of its own (terminated, timed out).

Temporal stays the source of truth while it has the job; api/jobs.py asks here only when it has not, and answers in
the same shape either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from db import job_records
from db.models import JobRecord
from db.session import SessionFactory, database_unavailable
from workflows.base import JobStatus

log = logging.getLogger("longrun.jobs")
T = TypeVar("T")

# A record still open for a job Temporal no longer has: the run closed without writing it, and nothing is left to say
# how. Said as the job's end.
ENDED_UNRECORDED = "the job ended without recording its end (terminated or timed out), and Temporal no longer has it"


class JobRecords:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def get(self, job_id: str) -> JobRecord | None:
        """The job's record, closed: one left open for a job Temporal no longer has is closed as failed here."""
        async with self._sessions() as session:
            record = await job_records.get(session, job_id)
            if record is None or record.closed_at is not None:
                return record
            progress = {**(record.progress or {}), "status": JobStatus.failed.value, "message": ENDED_UNRECORDED}
            await job_records.record_close(
                session,
                job_id=record.job_id,
                first_run_id=record.first_run_id,
                run_id=record.run_id,
                job_type=record.job_type,
                owner=record.owner,
                started_at=record.started_at,
                status=JobStatus.failed.value,
                progress={**progress, **job_records.counts_in(record)},
                result={"status": JobStatus.failed.value, "error": ENDED_UNRECORDED},
                error=ENDED_UNRECORDED,
                closed_at=record.updated_at,
                correcting=True,
            )
            return await job_records.get(session, job_id)

    async def closed_record(self, job_id: str) -> JobRecord | None:
        """The job's record if it is closed; never corrected here (unlike `get`)."""
        async with self._sessions() as session:
            record = await job_records.get(session, job_id)
        return record if record is not None and record.closed_at is not None else None

    async def closed(
        self,
        *,
        limit: int,
        job_type: str | None,
        left_out_types: Collection[str],
        statuses: Collection[str] | None,
        owner: str | None,
        left_out_owners: Collection[str],
    ) -> list[JobRecord]:
        """Closed jobs newest first; none while the database is down (the listing then shows what Temporal has)."""

        async def read(session: AsyncSession) -> list[JobRecord]:
            return await job_records.closed_jobs(
                session,
                limit=limit,
                job_type=job_type,
                left_out_types=left_out_types,
                statuses=statuses,
                owner=owner,
                left_out_owners=left_out_owners,
            )

        return await self._read_unless_down(read, [], "jobs list without the closed jobs' records")

    async def still_open(self, runs: list[tuple[str, str]]) -> list[str]:
        """Of these (job id, run id), the jobs whose record is still open for that run; none while the database is
        down."""
        if not runs:
            return []
        return await self._read_unless_down(lambda session: job_records.still_open(session, runs), [])

    async def closed_counts(self, job_ids: list[str]) -> dict[str, dict[str, int]]:
        """The counts these closed jobs ended with, by job id; none while the database is down (the listing then shows
        when they ended only)."""
        if not job_ids:
            return {}
        return await self._read_unless_down(lambda session: job_records.closed_counts(session, job_ids), {})

    async def _read_unless_down(
        self, read: Callable[[AsyncSession], Awaitable[T]], while_down: T, warning: str | None = None
    ) -> T:
        """What `read` answers; `while_down` when the database is unavailable, since a listing still has what
        Temporal says."""
        try:
            async with self._sessions() as session:
                return await read(session)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            if warning:
                log.warning("%s: the database is unavailable", warning)
            return while_down

    async def delete_closed_before(self, before: datetime) -> list[str]:
        async with self._sessions() as session:
            return await job_records.delete_closed_before(session, before)

    async def closed_by_temporal(
        self,
        *,
        job_id: str,
        run_id: str,
        job_type: str,
        owner: str,
        started_at: datetime,
        closed_at: datetime,
        status: JobStatus,
        progress: dict[str, Any],
        result: dict[str, Any] | None,
    ) -> None:
        """Write what Temporal says of a closed run into its record still open (it was terminated or timed out, and ran
        no code at its end); best effort."""
        try:
            async with self._sessions() as session:
                record = await job_records.get(session, job_id)
                # None: a run begun before records were kept, or one an admin's clean-up has just forgotten (writing
                # it again would bring the job back).
                if record is None or record.closed_at is not None or record.run_id != run_id:
                    return
                error = (result or {}).get("error") if status == JobStatus.failed else None
                await job_records.record_close(
                    session,
                    job_id=job_id,
                    first_run_id=record.first_run_id,
                    run_id=run_id,
                    job_type=job_type,
                    owner=owner,
                    started_at=started_at,
                    status=status.value,
                    progress=progress,
                    result=result,
                    error=error or (progress.get("message") if status == JobStatus.failed else None),
                    closed_at=closed_at,
                    correcting=True,
                )
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("job %s closed, its record not corrected: the database is unavailable", job_id)
