"""The 1C books in our database, a page at a time: one statement upserts a page, `DataVersion` decides
created / updated / skipped, and a ledger row written in the same transaction answers a retried page.

1C's strings have no width of their own and ours do: every row is fitted to its columns before the write
(`fit_documents`, `fit_contractors`). Free text a person reads is cut with a marker; a number, a code, a version
or a value compared whole (rules match `operation` exactly) is never cut, since a cut turns it into another
value: that row fails alone, named, and the rest of its page is written.
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import ColumnElement, CursorResult, Numeric, String, Table, case, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.base import utcnow
from db.models.onec import BankTransaction, CategorySource, Direction, SyncPage
from db.models.onec import Contractor as ContractorRow
from domain.onec_rows import BankDocument, Contractor, DocumentKind, OneCRow

# A declarative class maps a Table; SQLAlchemy types `__table__` as the wider FromClause.
TRANSACTIONS = cast(Table, BankTransaction.__table__)
CONTRACTORS = cast(Table, ContractorRow.__table__)
PAGES = cast(Table, SyncPage.__table__)
DIRECTION = {DocumentKind.INCOMING: Direction.incoming, DocumentKind.OUTGOING: Direction.outgoing}


class Counts(BaseModel):
    """The counts the 1C front end shows: loaded, created, updated, skipped (plus deleted: marked deleted by 1C, and
    failed: rows that cannot be stored as they are)."""

    loaded: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(**{k: getattr(self, k) + getattr(other, k) for k in Counts.model_fields})


Connection = AsyncConnection | AsyncSession

CUT_MARKER = "…[cut]"
# Read by people, never compared: a value too long for its column is cut. (purpose and full_name are TEXT.)
_CUTTABLE = frozenset({"name"})
# Where a NUL (which Postgres text cannot hold) is dropped rather than failing the row.
_FREE_TEXT = frozenset({"name", "full_name", "purpose"})


class RowError(BaseModel):
    """A row of a page that could not be stored, and why; `key` names it as 1C does (its set, Number or Code, key)."""

    key: str
    error: str


def fit_documents(documents: Sequence[BankDocument]) -> tuple[list[BankDocument], list[RowError]]:
    """The documents whose every value fits the books (free text cut), and an error for each of the others."""
    return _fit(TRANSACTIONS, documents, _document_values, lambda d: f"{d.kind.value} {d.number!r} {d.ref_key}")


def fit_contractors(contractors: Sequence[Contractor]) -> tuple[list[Contractor], list[RowError]]:
    return _fit(CONTRACTORS, contractors, _contractor_values, lambda c: f"Catalog_Контрагенты {c.code!r} {c.ref_key}")


def _fit(table: Table, rows: Sequence[OneCRow], values, name) -> tuple[list, list[RowError]]:
    fitted, failed = [], []
    for row in rows:
        changes, problems = {}, []
        for column, value in values(row).items():
            fixed = _fit_value(table, column, value, problems, _field_name(row, column))
            if fixed is not value:
                changes[column] = fixed
        if problems:
            failed.append(RowError(key=name(row)[:300], error="; ".join(problems)))
        else:
            fitted.append(row.model_copy(update=changes) if changes else row)
    return fitted, failed


def _fit_value(table: Table, column: str, value: Any, problems: list[str], field: str) -> Any:
    kind = table.c[column].type
    if isinstance(value, str):
        if "\x00" in value:
            if column not in _FREE_TEXT:
                problems.append(f"{field} holds a NUL character")
                return value
            value = value.replace("\x00", "")
        width = kind.length if isinstance(kind, String) else None
        if width is not None and len(value) > width:
            if column in _CUTTABLE:
                return value[: width - len(CUT_MARKER)] + CUT_MARKER
            problems.append(f"{field} has {len(value)} characters, the books hold {width}: {value[:80]!r}")
        return value
    if isinstance(value, Decimal) and isinstance(kind, Numeric) and kind.precision is not None:
        whole_digits = kind.precision - (kind.scale or 0)
        if not value.is_finite() or abs(value) >= Decimal(10) ** whole_digits:
            problems.append(f"{field} {value} does not fit {whole_digits} digits before the point")
    return value


def _field_name(row: OneCRow, column: str) -> str:
    """1C's name for the field behind a column (`Number`), which the person fixing it in 1C knows."""
    field = type(row).model_fields.get(column)
    return (field.alias or column) if field is not None else column


def _document_values(d: BankDocument) -> dict[str, Any]:
    return {
        "data_version": d.data_version,
        "number": d.number,
        "amount": d.amount,
        "contractor_type": d.contractor_type,
        "purpose": d.purpose,
        "operation": d.operation,
    }


def _contractor_values(c: Contractor) -> dict[str, Any]:
    return {
        "data_version": c.data_version,
        "code": c.code,
        "name": c.name,
        "full_name": c.full_name,
        "inn": c.inn,
        "kpp": c.kpp,
    }


async def recorded_page(conn: Connection, job_run: str, entity: str, page_key: str) -> dict[str, Any] | None:
    return await conn.scalar(
        select(PAGES.c.outcome).where(
            PAGES.c.job_run == job_run, PAGES.c.entity == entity, PAGES.c.page_key == page_key
        )
    )


async def record_page(conn: Connection, job_run: str, entity: str, page_key: str, outcome: dict[str, Any]) -> None:
    await conn.execute(
        insert(PAGES)
        .values(job_run=job_run, entity=entity, page_key=page_key, outcome=outcome, created_at=utcnow())
        .on_conflict_do_nothing()
    )


async def _upsert(conn: Connection, table, rows: list[dict[str, Any]], reset: dict[str, Any]) -> Counts:
    """Insert new rows, rewrite those whose version changed, leave the rest; count which was which."""
    # A row may come twice within a read (keyset paging repeats ties); once per statement is what Postgres allows.
    unique = list({row["ref_key"]: row for row in rows}.values())
    counts = Counts(loaded=len(rows))
    if not unique:
        return counts
    stmt = insert(table).values(unique)
    changed = {c.name: stmt.excluded[c.name] for c in table.columns if c.name != "ref_key" and c.name not in reset}
    stmt = stmt.on_conflict_do_update(
        index_elements=["ref_key"],
        set_={**changed, **reset},
        where=table.c.data_version.is_distinct_from(stmt.excluded.data_version),
    ).returning(table.c.ref_key, table.c.deleted, literal_column("xmax = 0").label("inserted"))
    written = (await conn.execute(stmt)).all()
    counts.created = sum(1 for row in written if row.inserted)
    counts.updated = len(written) - counts.created
    counts.skipped = len(rows) - len(written)
    counts.deleted = sum(1 for row in written if row.deleted)
    return counts


async def upsert_documents(conn: Connection, documents: Sequence[BankDocument]) -> Counts:
    now = utcnow()
    rows = [
        {
            "ref_key": d.ref_key,
            "data_version": d.data_version,
            "direction": DIRECTION[d.kind].value,
            "number": d.number,
            "date": d.date,
            "posted": d.posted,
            "amount": d.amount,
            "contractor_key": d.contractor_key,
            "contractor_type": d.contractor_type,
            "purpose": d.purpose,
            "operation": d.operation,
            "deleted": d.deletion_mark,
            "synced_at": now,
        }
        for d in documents
    ]
    # A document 1C changed is classified again (its purpose or contractor may be new), unless a person chose.
    manual = TRANSACTIONS.c.category_source == CategorySource.manual.value
    reset = {name: case((manual, TRANSACTIONS.c[name])) for name in ("category", "category_source")}
    return await _upsert(conn, TRANSACTIONS, rows, reset)


async def upsert_contractors(conn: Connection, contractors: Sequence[Contractor]) -> Counts:
    now = utcnow()
    rows = [
        {
            "ref_key": c.ref_key,
            "data_version": c.data_version,
            "code": c.code,
            "name": c.name,
            "full_name": c.full_name,
            "inn": c.inn,
            "kpp": c.kpp,
            "is_folder": c.is_folder,
            "parent_key": c.parent_key,
            "deleted": c.deletion_mark,
            "synced_at": now,
        }
        for c in contractors
    ]
    return await _upsert(conn, CONTRACTORS, rows, {})


async def unknown_contractors(conn: Connection, keys: set[UUID]) -> list[UUID]:
    """Which of these contractor keys the catalog here does not have (yet)."""
    if not keys:
        return []
    known = await conn.scalars(select(CONTRACTORS.c.ref_key).where(CONTRACTORS.c.ref_key.in_(keys)))
    return sorted(keys - set(known))


# The first active rule (by priority) whose every given condition holds; one statement for the whole period.
_APPLY_RULES = text(
    """
    UPDATE bank_transaction t SET category = m.category, category_source = 'rule'
    FROM (
        SELECT DISTINCT ON (t.ref_key) t.ref_key, r.category
        FROM bank_transaction t
        JOIN classification_rule r ON r.active
            AND (r.contractor_key IS NULL OR r.contractor_key = t.contractor_key)
            AND (r.inn IS NULL OR EXISTS (
                SELECT 1 FROM contractor c WHERE c.ref_key = t.contractor_key AND c.inn = r.inn))
            AND (r.purpose_contains IS NULL OR position(lower(r.purpose_contains) IN lower(t.purpose)) > 0)
            AND (r.operation IS NULL OR t.operation = r.operation)
            AND (r.direction IS NULL OR t.direction = r.direction)
        WHERE t.category IS NULL AND NOT t.deleted AND t.date BETWEEN :date_from AND :date_to
        ORDER BY t.ref_key, r.priority, r.id
    ) m
    WHERE t.ref_key = m.ref_key
    """
)


async def apply_rules(conn: Connection, date_from: datetime, date_to: datetime) -> int:
    result = await conn.execute(_APPLY_RULES, {"date_from": date_from, "date_to": date_to})
    # An UPDATE answers a CursorResult; a session's execute() is typed as the plain Result.
    return cast(CursorResult, result).rowcount


def _unclassified_in(date_from: datetime, date_to: datetime) -> list[ColumnElement[bool]]:
    """What classification takes (the rules' statement says the same in SQL): live, uncategorised, in the period."""
    return [
        TRANSACTIONS.c.category.is_(None),
        TRANSACTIONS.c.deleted.is_(False),
        TRANSACTIONS.c.date.between(date_from, date_to),
    ]


async def count_unclassified(conn: Connection, date_from: datetime, date_to: datetime) -> int:
    query = select(func.count()).select_from(TRANSACTIONS).where(*_unclassified_in(date_from, date_to))
    return await conn.scalar(query) or 0


async def unclassified(conn: Connection, date_from: datetime, date_to: datetime, limit: int) -> list[dict[str, Any]]:
    """Transactions of the period still without a category, with what the LLM needs to judge them."""
    rows = await conn.execute(
        select(
            TRANSACTIONS.c.ref_key,
            TRANSACTIONS.c.direction,
            TRANSACTIONS.c.amount,
            TRANSACTIONS.c.purpose,
            TRANSACTIONS.c.operation,
            CONTRACTORS.c.name.label("contractor"),
        )
        .select_from(TRANSACTIONS.outerjoin(CONTRACTORS, CONTRACTORS.c.ref_key == TRANSACTIONS.c.contractor_key))
        .where(*_unclassified_in(date_from, date_to))
        .order_by(TRANSACTIONS.c.date, TRANSACTIONS.c.ref_key)
        .limit(limit)
    )
    return [dict(row._mapping) for row in rows]


_SET_CATEGORIES = text(
    """
    UPDATE bank_transaction t SET category = v.category, category_source = 'llm'
    FROM unnest(CAST(:keys AS uuid[]), CAST(:categories AS text[])) AS v(ref_key, category)
    WHERE t.ref_key = v.ref_key AND t.category IS NULL
    """
)


async def set_categories(conn: Connection, categories: dict[UUID, str]) -> int:
    """Save the LLM's answers in one statement; a transaction classified meanwhile (a rule, a person) keeps its
    category."""
    if not categories:
        return 0
    keys, values = list(categories), list(categories.values())
    result = await conn.execute(_SET_CATEGORIES, {"keys": keys, "categories": values})
    return cast(CursorResult, result).rowcount  # an UPDATE's result, typed as the plain Result (above)
