from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, CreatedAt, utcnow
from db.types import WebUrl


class NewsStatus(StrEnum):
    draft = "draft"
    published = "published"
    rejected = "rejected"


# An editor's decision on a draft is made once: a published post is not taken back to a draft, a rejected one is
# not published later by a stale screen (that answers 409).
STATUS_CHANGES: dict[str, set[str]] = {
    NewsStatus.draft: {NewsStatus.published, NewsStatus.rejected},
    NewsStatus.published: set(),
    NewsStatus.rejected: set(),
}


class NewsSource(CreatedAt, Base):
    __tablename__ = "news_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    feed_url: Mapped[str] = mapped_column(WebUrl())
    topic: Mapped[str] = mapped_column(String(500), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The last discovery run that finished with this source, so an editor sees a dead feed without opening jobs:
    # the run (job id), when it finished, what it read and drafted, and its error if the source failed.
    last_run_id: Mapped[str | None] = mapped_column(String(200))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_entries: Mapped[int | None] = mapped_column(Integer)
    last_run_drafts: Mapped[int | None] = mapped_column(Integer)
    last_run_error: Mapped[str | None] = mapped_column(Text)


class NewsPost(CreatedAt, Base):
    """A draft found by discovery; (source, url) is the natural key that makes re-runs idempotent."""

    __tablename__ = "news_post"
    __table_args__ = (UniqueConstraint("source_id", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("news_source.id", ondelete="CASCADE"), index=True)
    # The discovery job (workflow id) that found it.
    run_id: Mapped[str | None] = mapped_column(String(200), index=True)
    url: Mapped[str] = mapped_column(WebUrl())
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=NewsStatus.draft.value)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
