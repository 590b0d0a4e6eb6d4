"""WebBuddy: projects, the queries their users ask, and the logs written while answering."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, CreatedAt, utcnow


class QueryStatus(StrEnum):
    queued = "queued"
    in_progress = "in_progress"
    done = "done"
    failed = "failed"


# `Query.claimed_by` for a claim made through `claim_next` by an external worker.
EXTERNAL = "external"
# `Query.claimed_by` of a workflow run's claim is this prefix and the run id.
WORKFLOW_CLAIM = "workflow:"


class Project(CreatedAt, Base):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Query(Base):
    __tablename__ = "query"
    # claim_next takes the oldest queued query: this index keeps that one step.
    __table_args__ = (Index("ix_query_status_created", "status", "query_created", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    query_text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=QueryStatus.queued.value)
    answer_text: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    query_created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    query_started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    query_finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who holds the claim: EXTERNAL, or "workflow:<run id>" — so a retried claim knows its own,
    # and reconcile requeues only external claims whose worker went quiet.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QueryLog(CreatedAt, Base):
    __tablename__ = "query_log"
    # A workflow's stage logs are written once however often a step is retried; logs posted by
    # external workers have no stage and are kept as sent.
    __table_args__ = (UniqueConstraint("query_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    query_id: Mapped[int] = mapped_column(ForeignKey("query.id", ondelete="CASCADE"), index=True)
    log_data: Mapped[str] = mapped_column(Text)
    stage: Mapped[str | None] = mapped_column(String(32))
