"""The record of every job, kept in Postgres so a closed job outlives the Temporal namespace's retention."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class JobRecord(Base):
    """One row per job id: its latest run chain (a job id with a natural key is reused by later runs; the runs a job
    continues-as-new into are one job). Written by the workflow when it starts and when it closes (workflows/
    job_records.py); the API corrects it when Temporal says a run ended without a word (terminated, timed out)."""

    __tablename__ = "job_records"

    job_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The first run of the chain this row describes, and its latest run: a start with another first run is a new job.
    first_run_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64))
    job_type: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(150))
    # The input's top-level plain fields, cut short (what a listing shows); the whole input when it is small enough
    # to rerun the job from (null when it was not).
    input_summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    input: Mapped[Any | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # The progress the job last reported (message, errors, percent...): what the API answers beside the counts.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The jobs list: newest first, per owner and per type.
        Index("ix_job_records_started_at", "started_at"),
        Index("ix_job_records_owner_started_at", "owner", "started_at"),
        Index("ix_job_records_job_type_started_at", "job_type", "started_at"),
    )
