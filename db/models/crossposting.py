"""Telegram → MAX crossposting: the channels, the links between them, and a message log
per (link, Telegram message) that makes every post go over once.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, CreatedAt, utcnow


class SourceKind(StrEnum):
    pyrogram = "pyrogram"  # read live through a Telegram user session
    export = "export"  # a Telegram Desktop export directory (result.json and its media)


class TelegramChannel(CreatedAt, Base):
    __tablename__ = "telegram_channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), default=SourceKind.pyrogram.value)
    # pyrogram: the channel's @username or numeric id; export: the export directory on the workers' disk.
    chat: Mapped[str | None] = mapped_column(String(200))
    export_path: Mapped[str | None] = mapped_column(String(1000))


class MaxChannel(CreatedAt, Base):
    __tablename__ = "max_channel"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The bot's token: read by activities only, never in a workflow's input or an API answer.
    bot_token: Mapped[str] = mapped_column(String(500))


class CrosspostingLink(CreatedAt, Base):
    __tablename__ = "crossposting_link"
    __table_args__ = (UniqueConstraint("telegram_channel_id", "max_channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_channel_id: Mapped[int] = mapped_column(ForeignKey("telegram_channel.id", ondelete="CASCADE"), index=True)
    max_channel_id: Mapped[int] = mapped_column(ForeignKey("max_channel.id", ondelete="CASCADE"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class MessageStatus(StrEnum):
    pending = "pending"  # read, not yet in MAX (or its send's outcome is not known yet)
    success = "success"
    skipped = "skipped"  # MAX cannot show it (a poll...): `error` says why
    failed = "failed"  # MAX refused it: `error` says why; retry-failed tries again


class MessageLog(Base):
    """One Telegram message of a link, from the moment it is read until MAX has it.

    (link, telegram message id) is the natural key: a re-run or a retried page upserts, never duplicates.
    `send_started_at` set with no `max_message_id` is an intent without an outcome: the worker died
    somewhere around the send, and MAX is asked before the post is sent again.
    """

    __tablename__ = "message_log"
    __table_args__ = (
        UniqueConstraint("crossposting_link_id", "telegram_message_id"),
        # For the "already migrated?" check of a whole page at once (db/message_log.py `already_done`).
        Index(
            "idx_message_log_migration_check",
            "crossposting_link_id",
            "telegram_message_id",
            "status",
            postgresql_where=text("status = 'success'"),
        ),
        # The log's pages by status (`?status=failed`) and retry-failed's walk over the failed ones.
        Index("ix_message_log_link_status_message", "crossposting_link_id", "status", "telegram_message_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    crossposting_link_id: Mapped[int] = mapped_column(ForeignKey("crossposting_link.id", ondelete="CASCADE"))
    telegram_message_id: Mapped[int] = mapped_column(BigInteger)
    # The post this message belongs to: its own id, or an album's first message id.
    post_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.pending.value)
    max_message_id: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    # The normalised post (domain/posts.py) while it waits to be published; cleared once it is in MAX.
    post: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the message's date in Telegram
    send_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Timings of the post it belongs to: media download + upload, and the send itself.
    prepare_ms: Mapped[int | None] = mapped_column(Integer)
    send_ms: Mapped[int | None] = mapped_column(Integer)
    media_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
