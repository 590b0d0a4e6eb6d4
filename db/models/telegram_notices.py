"""Telegram links and job notices: the one-time codes that link an account, the outbox the bot sends from, and how
far each watched job's notices have gone."""

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, CreatedAt


class TelegramLinkCode(CreatedAt, Base):
    """A code a user sends the bot as `/start <code>`; only its hash is kept, and it links once."""

    __tablename__ = "telegram_link_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The account it linked: Telegram delivering the same /start again finds it used by the same account.
    used_by: Mapped[int | None] = mapped_column(BigInteger)


class TelegramNotice(CreatedAt, Base):
    """A message waiting for the bot to send it (the outbox). Sent rows are deleted; rows that could not be sent in
    time are dropped: a Bot API outage loses notices, never holds anything else up."""

    __tablename__ = "telegram_notice"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    text: Mapped[str] = mapped_column(Text)
    # A job's progress notice is replaced by its next one while unsent: at most one waits per job.
    job_id: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not before: a failed send waits, and a sender holds a row it is sending until this passes.
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    error: Mapped[str | None] = mapped_column(String(500))


class JobNotice(Base):
    """How far one run's notices have gone: the count its last progress notice said, when, and whether its end was
    told. Read and written under a row lock, so API processes watching the same job tell each thing once."""

    __tablename__ = "job_notice"

    job_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    last_processed: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended: Mapped[bool] = mapped_column(Boolean, default=False)
