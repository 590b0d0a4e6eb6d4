"""The job record's two writes (db/job_records.py), run as local activities by every job (workflows/job_records.py)."""

from temporalio import activity

from db import job_records
from db.session import SessionFactory
from workflows.job_records import CLOSE, START, RecordClose, RecordStart


class JobRecordActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn(name=START)
    async def record_start(self, start: RecordStart) -> None:
        async with self._sessions() as session:
            await job_records.record_start(session, **start.run.model_dump(), input=start.input)

    @activity.defn(name=CLOSE)
    async def record_close(self, close: RecordClose) -> None:
        async with self._sessions() as session:
            await job_records.record_close(
                session,
                **close.run.model_dump(),
                status=close.status.value,
                progress=close.progress,
                result=close.result,
                error=close.error,
                closed_at=close.closed_at,
            )
