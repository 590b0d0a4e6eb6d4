"""1C sync with the endpoints the 1C front end calls: start a sync (`{"task_id"}`), read the synced books, edit the
classification rules, and pause or resume the syncs' schedules."""

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import ColumnElement, func, or_, select
from temporalio.client import ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from api.deps import (
    CurrentUser,
    Editors,
    JobsDep,
    SessionDep,
    SettingsDep,
    TemporalDep,
    delete_found,
    field_error,
    found,
    save_changes,
)
from api.fields import RowId
from api.jobs import JobStarted
from api.onec_last_sync import SyncKind, sync_kind
from api.paging import Limit, Offset, page_of
from db.models.onec import BankTransaction, CategorySource, ClassificationRule, Contractor, Direction
from settings import Settings
from workflows.onec import (
    BANK_JOB_ID,
    CONTRACTORS_JOB_ID,
    SyncBankInput,
    SyncContractorsInput,
    bank_sync_job,
    contractors_sync_job,
)
from workflows.schedules import PAUSABLE, schedule_id

router = APIRouter(prefix="/api/v1/sync-1c", tags=["1c"])


class BankSyncRequest(BaseModel):
    date_from: date
    date_to: date
    auto_classify: bool = False

    @field_validator("date_to")
    @classmethod
    def period_in_order(cls, date_to: date, info: ValidationInfo) -> date:
        date_from = info.data.get("date_from")
        if date_from and date_to < date_from:
            raise ValueError(f"date_to ({date_to}) is before date_from ({date_from})")
        return date_to


class TaskStarted(BaseModel):
    """What the 1C front end expects from a sync start: poll `/api/v1/tasks/{task_id}` or watch
    `/api/v1/ws/tasks/{task_id}`.

    `joined`: a sync of this kind was already running, so no new one started and this is that one: `running_input`
    is what it syncs (its period: it may not be the one asked for), `running_since` when it started. If someone else
    started it (a colleague, or the schedule), it stays theirs: reading or cancelling it answers 404."""

    task_id: str
    joined: bool = False
    running_input: dict[str, Any] | None = None
    running_since: datetime | None = None

    @classmethod
    def of(cls, started: JobStarted) -> "TaskStarted":
        return cls(task_id=started.job_id, **started.model_dump(exclude={"job_id"}))


class TransactionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    ref_key: UUID
    direction: Direction
    number: str
    date: datetime
    posted: bool
    amount: Decimal
    contractor_key: UUID | None
    purpose: str
    operation: str
    deleted: bool
    category: str | None
    category_source: CategorySource | None
    # The contractor as the books know it (null when the catalog has no such contractor).
    contractor_name: str | None = None
    contractor_inn: str | None = None


class TransactionPage(BaseModel):
    items: list[TransactionOut]
    total: int


class ContractorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    ref_key: UUID
    code: str
    name: str
    full_name: str
    inn: str
    kpp: str
    is_folder: bool
    parent_key: UUID | None
    deleted: bool


class ContractorPage(BaseModel):
    items: list[ContractorOut]
    total: int


class RuleIn(BaseModel):
    category: str = Field(min_length=1, max_length=100)
    priority: int = Field(default=100, ge=0, le=10_000)
    contractor_key: UUID | None = None
    inn: str | None = Field(default=None, pattern=r"^\d{10}(\d{2})?$")
    purpose_contains: str | None = Field(default=None, min_length=1, max_length=200)
    operation: str | None = Field(default=None, min_length=1, max_length=200)
    direction: Direction | None = None
    active: bool = True


NO_CONDITION = "a rule needs at least one condition (contractor, inn, purpose, operation or direction)"


RULE_CONDITIONS = ("contractor_key", "inn", "purpose_contains", "operation", "direction")


def has_condition(rule: Any, **overrides: Any) -> bool:
    """Whether a rule (RuleIn or a row, with `overrides` applied) says which transactions it matches."""
    return any(overrides.get(name, getattr(rule, name)) not in (None, "") for name in RULE_CONDITIONS)


class RulePatch(BaseModel):
    """The fields sent are changed; a condition sent as null is dropped (a rule keeps at least one)."""

    category: str | None = Field(default=None, min_length=1, max_length=100)
    priority: int | None = Field(default=None, ge=0, le=10_000)
    contractor_key: UUID | None = None
    inn: str | None = Field(default=None, pattern=r"^\d{10}(\d{2})?$")
    purpose_contains: str | None = Field(default=None, min_length=1, max_length=200)
    operation: str | None = Field(default=None, min_length=1, max_length=200)
    direction: Direction | None = None
    active: bool | None = None


class RuleOrder(BaseModel):
    """Every rule's id, once each, first to last: the first that matches a transaction gives its category."""

    # At most as many as the priorities a reorder gives (10, 20, ...) leave within a rule's highest priority.
    rule_ids: list[RowId] = Field(max_length=1000)


# Priorities a reorder gives (10, 20, ...): room for a rule put between two by hand.
PRIORITY_STEP = 10


class RuleOut(RuleIn):
    model_config = ConfigDict(from_attributes=True)
    id: int


class CategoryPatch(BaseModel):
    """A person's category for a transaction: kept over every later sync and classification. Null gives the
    transaction back to classification (the next sync with auto_classify)."""

    category: str | None = Field(min_length=1, max_length=100)


# The `category` filter's value for transactions without one.
UNCLASSIFIED = "unclassified"


@router.post("/bank-transactions/sync-async", status_code=status.HTTP_202_ACCEPTED)
async def sync_bank_transactions(
    body: BankSyncRequest, who: Editors, jobs: JobsDep, settings: SettingsDep
) -> TaskStarted:
    """Sync a period's bank documents; while a bank sync runs, its task is answered instead of a second one."""
    if (body.date_to - body.date_from).days + 1 > settings.onec_max_period_days:
        raise field_error("date_to", f"the period is longer than {settings.onec_max_period_days} days")
    inp = SyncBankInput(date_from=body.date_from, date_to=body.date_to, auto_classify=body.auto_classify)
    return TaskStarted.of(await jobs.launch(bank_sync_job(inp, who.username)))


@router.post("/contractors/sync-async", status_code=status.HTTP_202_ACCEPTED)
async def sync_contractors(who: Editors, jobs: JobsDep) -> TaskStarted:
    return TaskStarted.of(await jobs.launch(contractors_sync_job(SyncContractorsInput(), who.username)))


@router.get("/bank-transactions")
async def list_transactions(
    session: SessionDep,
    _: CurrentUser,
    date_from: date | None = None,
    date_to: date | None = None,
    contractor: UUID | None = None,
    category: Annotated[
        str | None, Query(min_length=1, max_length=100, description=f"a category, or {UNCLASSIFIED!r} for none")
    ] = None,
    direction: Direction | None = None,
    include_deleted: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> TransactionPage:
    """Newest first, each with its contractor's name and ИНН."""
    where: list[ColumnElement[bool]] = []
    if date_from is not None:
        where.append(BankTransaction.date >= datetime.combine(date_from, datetime.min.time()))
    if date_to is not None:
        where.append(BankTransaction.date <= datetime.combine(date_to, datetime.max.time()))
    if contractor is not None:
        where.append(BankTransaction.contractor_key == contractor)
    if category == UNCLASSIFIED:
        where.append(BankTransaction.category.is_(None))
    elif category is not None:
        where.append(BankTransaction.category == category)
    if direction is not None:
        where.append(BankTransaction.direction == direction)
    if not include_deleted:
        where.append(BankTransaction.deleted.is_(False))
    total = await session.scalar(select(func.count()).select_from(BankTransaction).where(*where)) or 0
    rows = await session.execute(
        select(BankTransaction, Contractor.name, Contractor.inn)
        .outerjoin(Contractor, Contractor.ref_key == BankTransaction.contractor_key)
        .where(*where)
        .order_by(BankTransaction.date.desc(), BankTransaction.ref_key)
        .limit(limit)
        .offset(offset)
    )
    return TransactionPage(items=[transaction_out(t, name, inn) for t, name, inn in rows], total=total)


def transaction_out(row: BankTransaction, contractor_name: str | None, contractor_inn: str | None) -> TransactionOut:
    out = TransactionOut.model_validate(row)
    out.contractor_name, out.contractor_inn = contractor_name, contractor_inn
    return out


@router.patch("/bank-transactions/{ref_key}")
async def set_category(ref_key: UUID, body: CategoryPatch, session: SessionDep, _: Editors) -> TransactionOut:
    """A person's category (source `manual`), which no later sync or classification replaces; null clears it."""
    row = await session.get(BankTransaction, ref_key)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"bank transaction {ref_key} not found")
    row.category = body.category
    row.category_source = CategorySource.manual.value if body.category is not None else None
    await session.commit()
    contractor = await session.get(Contractor, row.contractor_key) if row.contractor_key else None
    return transaction_out(row, *((contractor.name, contractor.inn) if contractor else (None, None)))


class Categories(BaseModel):
    """The categories auto-classification chooses from (rules and people may name others)."""

    categories: list[str]


@router.get("/categories")
async def list_categories(_: CurrentUser, settings: SettingsDep) -> Categories:
    return Categories(categories=settings.onec_categories)


@router.get("/contractors")
async def list_contractors(
    session: SessionDep,
    _: CurrentUser,
    q: Annotated[str | None, Query(min_length=1, max_length=200, description="part of a name, or an ИНН")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ContractorPage:
    where: list[ColumnElement[bool]] = [Contractor.is_folder.is_(False)]
    if q:
        where.append(
            or_(
                Contractor.name.icontains(q, autoescape=True),
                Contractor.full_name.icontains(q, autoescape=True),
                Contractor.inn.startswith(q.strip(), autoescape=True),
            )
        )
    rows, total = await page_of(session, Contractor, where, [Contractor.name, Contractor.ref_key], limit, offset)
    return ContractorPage(items=[ContractorOut.model_validate(r) for r in rows], total=total)


@router.get("/rules", response_model=list[RuleOut])
async def list_rules(session: SessionDep, _: CurrentUser):
    order = (ClassificationRule.priority, ClassificationRule.id)
    return (await session.scalars(select(ClassificationRule).order_by(*order))).all()


@router.post("/rules", status_code=status.HTTP_201_CREATED, response_model=RuleOut)
async def create_rule(body: RuleIn, session: SessionDep, _: Editors):
    if not has_condition(body):
        raise field_error("purpose_contains", NO_CONDITION)
    rule = ClassificationRule(**body.model_dump(mode="json"))
    session.add(rule)
    await session.commit()
    return rule


@router.patch("/rules/{rule_id}", response_model=RuleOut)
async def update_rule(rule_id: RowId, body: RulePatch, session: SessionDep, _: Editors):
    rule = await found(session, ClassificationRule, rule_id, "rule")
    changes = body.model_dump(exclude_unset=True)
    # Clearing the purpose of a rule that has no other condition would make it match every transaction.
    if not has_condition(rule, **changes):
        raise field_error("purpose_contains", NO_CONDITION)
    return await save_changes(session, rule, changes)


@router.put("/rules/order", response_model=list[RuleOut])
async def reorder_rules(body: RuleOrder, session: SessionDep, _: Editors):
    """Put the rules in this order (their priorities become 10, 20, ...); the answer is the rules in it."""
    rules = {r.id: r for r in (await session.scalars(select(ClassificationRule).with_for_update())).all()}
    given = body.rule_ids
    if repeated := sorted(i for i, times in Counter(given).items() if times > 1):
        raise field_error("rule_ids", f"each rule once: {repeated} repeated")
    if unknown := sorted(set(given) - set(rules)):
        raise field_error("rule_ids", f"no such rules: {unknown}")
    if missing := sorted(set(rules) - set(given)):
        raise field_error("rule_ids", f"every rule must be placed; missing: {missing}")
    for place, rule_id in enumerate(given, start=1):
        rules[rule_id].priority = place * PRIORITY_STEP
    await session.commit()
    return [rules[i] for i in given]


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: RowId, session: SessionDep, _: Editors) -> None:
    await delete_found(session, ClassificationRule, rule_id, "rule")


# -- schedules ---------------------------------------------------------------------------------------

ScheduleName = Literal["bank-transactions", "contractors"]


class ScheduleOut(BaseModel):
    name: ScheduleName
    schedule_id: str
    paused: bool
    note: str
    next_runs: list[datetime]
    last_run: datetime | None


async def schedule_handle(name: ScheduleName, temporal: TemporalDep, settings: Settings) -> ScheduleHandle:
    return (await temporal.client()).get_schedule_handle(schedule_id(PAUSABLE[name], settings))


async def schedule_out(name: ScheduleName, handle: ScheduleHandle) -> ScheduleOut:
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            missing = f"schedule {handle.id!r} does not exist yet (no worker has started)"
            raise HTTPException(status.HTTP_404_NOT_FOUND, missing) from exc
        raise
    state, info = described.schedule.state, described.info
    recent = info.recent_actions[-1].started_at if info.recent_actions else None
    return ScheduleOut(
        name=name,
        schedule_id=handle.id,
        paused=state.paused,
        note=state.note or "",
        next_runs=list(info.next_action_times[:3]),
        last_run=recent,
    )


@router.get("/last-syncs")
async def last_syncs(_: CurrentUser, temporal: TemporalDep, jobs: JobsDep) -> list[SyncKind]:
    """Each kind's last finished sync (when, its counts, its error) and whether one runs now."""
    client = await temporal.client()
    return [
        await sync_kind(client, jobs.records, "bank-transactions", BANK_JOB_ID),
        await sync_kind(client, jobs.records, "contractors", CONTRACTORS_JOB_ID),
    ]


@router.get("/schedules")
async def list_schedules(_: CurrentUser, temporal: TemporalDep, settings: SettingsDep) -> list[ScheduleOut]:
    return [
        await schedule_out(name, await schedule_handle(name, temporal, settings)) for name in get_args(ScheduleName)
    ]


@router.post("/schedules/{name}/pause")
async def pause_schedule(name: ScheduleName, who: Editors, temporal: TemporalDep, settings: SettingsDep) -> ScheduleOut:
    """The scheduled sync stops running until resumed (also shown, and undoable, in the Temporal Web UI)."""
    handle = await schedule_handle(name, temporal, settings)
    await handle.pause(note=f"paused by {who.username}")
    return await schedule_out(name, handle)


@router.post("/schedules/{name}/unpause")
async def unpause_schedule(
    name: ScheduleName, who: Editors, temporal: TemporalDep, settings: SettingsDep
) -> ScheduleOut:
    handle = await schedule_handle(name, temporal, settings)
    await handle.unpause(note=f"resumed by {who.username}")
    return await schedule_out(name, handle)
