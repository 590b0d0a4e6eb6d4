from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, CreatedAt


class Role(StrEnum):
    admin = "admin"
    manager = "manager"
    user = "user"
    worker = "worker"


class User(CreatedAt, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.user.value)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The Telegram account the user linked (`/start <code>` to the bot): job notices go to it, and the tracker's
    # profile with this id is this user's. One account links to one user.
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # Telegram's language for that account when it linked: which language its notices are written in.
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    telegram_linked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
