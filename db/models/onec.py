"""1C sync: contractors and bank transactions as 1C has them, their categories, the rules that pick
categories, and the ledger that makes a retried page count once.

Rows are keyed by 1C's `Ref_Key`: a sync upserts, never duplicates. `data_version` is 1C's `DataVersion`, which
1C changes on every write of the object, so an unchanged version means nothing to do ("skipped").
"""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from sqlalchemy import Boolean, DateTime, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, CreatedAt, utcnow


class Direction(StrEnum):
    incoming = "incoming"  # Document_ПоступлениеНаРасчетныйСчет
    outgoing = "outgoing"  # Document_СписаниеСРасчетногоСчета


class CategorySource(StrEnum):
    rule = "rule"
    llm = "llm"
    manual = "manual"


class Contractor(Base):
    __tablename__ = "contractor"
    # Search by name or ИНН.
    __table_args__ = (Index("ix_contractor_inn", "inn"),)

    ref_key: Mapped[UUID] = mapped_column(primary_key=True)
    data_version: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(50), default="")
    name: Mapped[str] = mapped_column(String(500), default="")
    full_name: Mapped[str] = mapped_column(Text, default="")
    inn: Mapped[str] = mapped_column(String(20), default="")
    kpp: Mapped[str] = mapped_column(String(20), default="")
    is_folder: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_key: Mapped[UUID | None] = mapped_column()
    # 1C's DeletionMark: a deleted object is marked here, never dropped.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BankTransaction(Base):
    __tablename__ = "bank_transaction"
    __table_args__ = (
        Index("ix_bank_transaction_date", "date"),
        Index("ix_bank_transaction_contractor", "contractor_key"),
        Index("ix_bank_transaction_category", "category"),
    )

    ref_key: Mapped[UUID] = mapped_column(primary_key=True)
    data_version: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(50), default="")
    # 1C's local time, as 1C gives it (no time zone).
    date: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    posted: Mapped[bool] = mapped_column(Boolean, default=False)
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    # A contractor that may not be in the catalog yet: no foreign key, the sync fetches it.
    contractor_key: Mapped[UUID | None] = mapped_column()
    contractor_type: Mapped[str] = mapped_column(String(200), default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    operation: Mapped[str] = mapped_column(String(200), default="")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str | None] = mapped_column(String(100))
    category_source: Mapped[str | None] = mapped_column(String(16))
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClassificationRule(CreatedAt, Base):
    """A transaction matching every condition given gets `category`; the lowest `priority` that matches wins."""

    __tablename__ = "classification_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    category: Mapped[str] = mapped_column(String(100))
    contractor_key: Mapped[UUID | None] = mapped_column()
    inn: Mapped[str | None] = mapped_column(String(20))
    # Case-insensitive substring of the payment purpose (НазначениеПлатежа).
    purpose_contains: Mapped[str | None] = mapped_column(String(200))
    operation: Mapped[str | None] = mapped_column(String(200))
    direction: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SyncPage(Base):
    """What one page of one sync did, written with the page's rows: a retried page answers this, not a recount
    (the retry would find every row already at its version and call it skipped)."""

    __tablename__ = "onec_sync_page"
    __table_args__ = (UniqueConstraint("job_run", "entity", "page_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_run: Mapped[str] = mapped_column(String(200))  # the workflow's run id
    entity: Mapped[str] = mapped_column(String(100))
    page_key: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[dict] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
