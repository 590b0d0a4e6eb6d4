"""Rate-limit state that every worker process shares: one row per limited key, for db/rate_limits.py.

Processes on different machines share only Postgres, so a limit that must hold across all of them (MAX's 30
requests/s per bot token) lives here. A key is stored only as its SHA-256: the key of a MAX limit holds the bot
token, and a token never sits in the database.
"""

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class RateLimit(Base):
    __tablename__ = "max_rate_limit"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the limiter's key
    # GCRA's theoretical arrival time: the end of the last slot handed out, on the database's clock.
    tat: Mapped[datetime] = mapped_column(DateTime(timezone=True))
