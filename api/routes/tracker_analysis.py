"""The tracker's analysis runs, their task proposals, and classification experiments.

Admins and managers start, cancel and review; everyone signed in reads. A run or an experiment is a row (what the
tracker's dashboard reads) and a job (`tracker-run-<id>`, `tracker-experiment-<id>`: progress at /api/v1/jobs/{id},
events on the events socket); cancelling goes through the job protocol's cancel signal.
"""

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.deps import (
    CurrentUser,
    Editors,
    JobsDep,
    SessionDep,
    SettingsDep,
    cancel_job,
    field_error,
    found,
    save_changes,
)
from api.fields import BigInt, RowId
from api.jobs import Jobs
from api.paging import Offset
from db.models.tracker import (
    AgentRole,
    AnalysisRun,
    ClassificationExperiment,
    JobRecordStatus,
    Message,
    ProposalStatus,
    TaskProposal,
)
from db.tracker_agents import config_for
from settings import Settings
from workflows.start import JobRequest
from workflows.tracker_analysis import analysis_job, run_job_id
from workflows.tracker_experiments import experiment_job, experiment_job_id

router = APIRouter(prefix="/api/v1", tags=["tracker"])

MAX_BATCH_SIZE = 500
MAX_EXPERIMENT_MESSAGES = 1000


class RunStart(BaseModel):
    time_window_start: datetime
    time_window_end: datetime
    use_rag: bool = False
    batch_size: int = Field(default=50, ge=1, le=MAX_BATCH_SIZE)
    agent_config_id: RowId | None = Field(default=None, description="null: the active proposal_generator")

    @field_validator("time_window_end")
    @classmethod
    def window_in_order(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("time_window_start")
        if start is not None and end <= start:
            raise ValueError(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        return end


class ExperimentStart(BaseModel):
    message_count: int = Field(default=100, ge=1, le=MAX_EXPERIMENT_MESSAGES)
    agent_config_id: RowId | None = Field(default=None, description="null: the active topic_classifier")
    telegram_chat_id: BigInt | None = Field(default=None, description="only this chat's messages; null: every chat's")


class Started(BaseModel):
    id: int
    job_id: str


class ProposalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    analysis_run_id: int
    batch_index: int
    position: int
    title: str
    description: str
    priority: str | None
    confidence: float
    source_message_ids: list[int]
    status: ProposalStatus
    created_at: datetime


class ProposalPatch(BaseModel):
    status: ProposalStatus


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    job_id: str | None = Field(validation_alias="workflow_id")
    status: JobRecordStatus
    agent_config_id: int | None
    time_window_start: datetime
    time_window_end: datetime
    use_rag: bool
    batch_size: int
    messages_total: int
    messages_after_filter: int
    batches_total: int
    batches_completed: int
    proposals_total: int
    error_log: list | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class RunDetail(RunOut):
    proposals: list[ProposalOut] = []


class ExperimentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    job_id: str | None = Field(validation_alias="workflow_id")
    status: JobRecordStatus
    agent_config_id: int | None
    message_count: int
    telegram_chat_id: int | None
    classified: int
    correct: int
    accuracy: float | None
    confusion_matrix: dict[str, dict[str, int]] | None
    error_message: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class Cancelling(BaseModel):
    id: int
    job_id: str
    status: str = "cancelling"


async def checked_config(session: AsyncSession, config_id: int | None, role: AgentRole) -> None:
    """The agent config a start names must exist and be for this job; with none named, one must be active."""
    config = await config_for(session, config_id, role)
    if config is None and config_id is not None:
        raise field_error("agent_config_id", f"unknown agent config {config_id}")
    if config is None:
        raise field_error("agent_config_id", f"no {role.value} agent config is active: name one")
    if config.role != role.value:
        raise field_error("agent_config_id", f"agent config {config_id} is a {config.role}, not a {role.value}")


async def started(
    session: AsyncSession,
    row: AnalysisRun | ClassificationExperiment,
    job_of: Callable[[int, str], JobRequest],
    who: Principal,
    jobs: Jobs,
) -> Started:
    """The row saved as pending and its job started: the job's id is on the row before the start, so the row
    always names its job."""
    row.created_by, row.status = who.id, JobRecordStatus.pending.value
    session.add(row)
    await session.flush()
    job = job_of(row.id, who.username)
    row.workflow_id = job.id()
    await session.commit()
    return Started(id=row.id, job_id=await jobs.start(job))


# -- analysis runs -----------------------------------------------------------------------------------


async def checked_bounds(session: AsyncSession, body: RunStart, settings: Settings) -> None:
    """A run's size is the caller's to choose within bounds: past them its job would outgrow what one job holds."""
    days = (body.time_window_end - body.time_window_start).total_seconds() / 86400
    if days > settings.analysis_max_window_days:
        raise field_error(
            "time_window_end", f"the window spans {days:.0f} days; at most {settings.analysis_max_window_days:g}"
        )
    in_window = (
        await session.execute(
            select(func.count())
            .select_from(Message)
            .where(Message.sent_at >= body.time_window_start, Message.sent_at < body.time_window_end)
        )
    ).scalar_one()
    if -(-in_window // body.batch_size) > settings.analysis_max_batches:
        least = -(-in_window // settings.analysis_max_batches)
        raise field_error(
            "batch_size",
            f"the window holds {in_window} messages: batches of {body.batch_size} make more than "
            f"{settings.analysis_max_batches}; ask for batches of at least {least} or a shorter window",
        )


@router.post("/runs", status_code=status.HTTP_202_ACCEPTED)
async def start_run(body: RunStart, session: SessionDep, who: Editors, jobs: JobsDep, settings: SettingsDep) -> Started:
    await checked_config(session, body.agent_config_id, AgentRole.proposal_generator)
    await checked_bounds(session, body, settings)
    job_of = partial(analysis_job, batches_per_run=settings.analysis_batches_per_run)
    return await started(session, AnalysisRun(**body.model_dump()), job_of, who, jobs)


@router.get("/runs", response_model=list[RunOut])
async def list_runs(
    session: SessionDep,
    _: CurrentUser,
    status_: Annotated[JobRecordStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
):
    query = select(AnalysisRun).order_by(AnalysisRun.id.desc()).limit(limit).offset(offset)
    if status_ is not None:
        query = query.where(AnalysisRun.status == status_.value)
    return (await session.scalars(query)).all()


@router.get("/runs/{run_id}")
async def read_run(run_id: RowId, session: SessionDep, _: CurrentUser) -> RunDetail:
    run = await found(session, AnalysisRun, run_id, "analysis run")
    proposals = await session.scalars(
        select(TaskProposal)
        .where(TaskProposal.analysis_run_id == run_id)
        .order_by(TaskProposal.batch_index, TaskProposal.position)
    )
    return RunDetail.model_validate(run).model_copy(
        update={"proposals": [ProposalOut.model_validate(p) for p in proposals]}
    )


@router.post("/runs/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_run(run_id: RowId, session: SessionDep, who: Editors, jobs: JobsDep) -> Cancelling:
    await found(session, AnalysisRun, run_id, "analysis run")
    await cancel_job(jobs, run_job_id(run_id), f"analysis run {run_id}", who)
    return Cancelling(id=run_id, job_id=run_job_id(run_id))


# -- proposals ---------------------------------------------------------------------------------------


@router.get("/proposals", response_model=list[ProposalOut])
async def list_proposals(
    session: SessionDep,
    _: CurrentUser,
    run_id: RowId | None = None,
    status_: Annotated[ProposalStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
):
    query = select(TaskProposal).order_by(TaskProposal.id.desc()).limit(limit).offset(offset)
    if run_id is not None:
        query = query.where(TaskProposal.analysis_run_id == run_id)
    if status_ is not None:
        query = query.where(TaskProposal.status == status_.value)
    return (await session.scalars(query)).all()


@router.get("/proposals/{proposal_id}", response_model=ProposalOut)
async def read_proposal(proposal_id: RowId, session: SessionDep, _: CurrentUser):
    return await found(session, TaskProposal, proposal_id, "proposal")


@router.patch("/proposals/{proposal_id}", response_model=ProposalOut)
async def review_proposal(proposal_id: RowId, body: ProposalPatch, session: SessionDep, _: Editors):
    """Approve or reject a proposal (or put it back to pending)."""
    proposal = await found(session, TaskProposal, proposal_id, "proposal")
    return await save_changes(session, proposal, {"status": body.status.value})


# -- classification experiments ----------------------------------------------------------------------


@router.post("/experiments", status_code=status.HTTP_202_ACCEPTED)
async def start_experiment(body: ExperimentStart, session: SessionDep, who: Editors, jobs: JobsDep) -> Started:
    await checked_config(session, body.agent_config_id, AgentRole.topic_classifier)
    return await started(session, ClassificationExperiment(**body.model_dump()), experiment_job, who, jobs)


@router.get("/experiments", response_model=list[ExperimentOut])
async def list_experiments(
    session: SessionDep,
    _: CurrentUser,
    status_: Annotated[JobRecordStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
):
    query = select(ClassificationExperiment).order_by(ClassificationExperiment.id.desc()).limit(limit).offset(offset)
    if status_ is not None:
        query = query.where(ClassificationExperiment.status == status_.value)
    return (await session.scalars(query)).all()


@router.get("/experiments/{experiment_id}", response_model=ExperimentOut)
async def read_experiment(experiment_id: RowId, session: SessionDep, _: CurrentUser):
    return await found(session, ClassificationExperiment, experiment_id, "classification experiment")


@router.post("/experiments/{experiment_id}/cancel", status_code=status.HTTP_202_ACCEPTED)
async def cancel_experiment(experiment_id: RowId, session: SessionDep, who: Editors, jobs: JobsDep) -> Cancelling:
    await found(session, ClassificationExperiment, experiment_id, "classification experiment")
    job_id = experiment_job_id(experiment_id)
    await cancel_job(jobs, job_id, f"classification experiment {experiment_id}", who)
    return Cancelling(id=experiment_id, job_id=job_id)
