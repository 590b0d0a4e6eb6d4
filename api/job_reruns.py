"""Rerun a closed job with the input it was started with (`POST /api/v1/jobs/{id}/rerun`).

What a job was started with is in its run's first history event (decoded through the payload codec). Each job type
that can be rerun says who may start it (the roles of the route that starts it) and how its input becomes a fresh
start: what a run carries over continue-as-new (progress, a cursor) is dropped, so the rerun begins at the beginning.
Job types whose input names a record of their own (a WebBuddy query, an analysis run) cannot: say why, and where to
start a new one.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from db.models import Role
from workflows.crossposting import JOB_TYPE as MIGRATION_JOB
from workflows.crossposting import MigrationInput, migration_job
from workflows.news import JOB_TYPE as NEWS_JOB
from workflows.news import DiscoverNewsInput, discovery_job
from workflows.onec import (
    BANK_JOB,
    CONTRACTORS_JOB,
    SyncBankInput,
    SyncContractorsInput,
    bank_sync_job,
    contractors_sync_job,
)
from workflows.services import SERVICES
from workflows.start import JobRequest
from workflows.tracker_embeddings import JOB_TYPE as EMBEDDINGS_JOB
from workflows.tracker_embeddings import EmbedItemsInput, embed_job
from workflows.tracker_inbox import SCORING_JOB, ScoreUnscoredInput, scoring_job

PEOPLE = frozenset({Role.admin, Role.manager, Role.user})
EDITORS = frozenset({Role.admin, Role.manager})


@dataclass(frozen=True)
class Rerun:
    # The roles the route that starts this job type lets in.
    roles: frozenset[Role]
    # The recorded input (plain JSON values) and the new owner → the job to start.
    job: Callable[[Any, str], JobRequest]


def _embeddings(value: Any, owner: str) -> JobRequest:
    recorded = EmbedItemsInput.model_validate(value)
    fresh = EmbedItemsInput(
        kinds=recorded.kinds, ids=recorded.ids, provider_id=recorded.provider_id, max_parallel=recorded.max_parallel
    )
    return embed_job(fresh, owner)


RERUNS: dict[str, Rerun] = {
    NEWS_JOB: Rerun(PEOPLE, lambda value, owner: discovery_job(DiscoverNewsInput.model_validate(value), owner)),
    MIGRATION_JOB: Rerun(
        EDITORS, lambda value, owner: migration_job(MigrationInput.model_validate(value).scope, owner)
    ),
    BANK_JOB: Rerun(EDITORS, lambda value, owner: bank_sync_job(SyncBankInput.model_validate(value), owner)),
    CONTRACTORS_JOB: Rerun(
        EDITORS, lambda value, owner: contractors_sync_job(SyncContractorsInput.model_validate(value), owner)
    ),
    SCORING_JOB: Rerun(EDITORS, lambda value, owner: scoring_job(ScoreUnscoredInput.model_validate(value), owner)),
    EMBEDDINGS_JOB: Rerun(EDITORS, _embeddings),
}

# Why the other job types cannot be rerun, and what to do instead.
NOT_RERUN = {
    "webbuddy_query": "a WebBuddy query's job answers one stored query; ask the question again for a new answer",
    "analysis_run": "an analysis run is a record with its own proposals; start a new run (POST /api/v1/runs)",
    "classification_experiment": "an experiment is a record with its own results; start a new one "
    "(POST /api/v1/experiments)",
    "message_ingestion": "an ingestion is a record with its own counts; start a new one (POST /api/v1/ingestion)",
    "knowledge_extraction": "a chat's extraction is started by the messages that gather in it, not rerun",
    "tracker_update": "a webhook update's job handled one Telegram update; Telegram does not send it twice",
}


class CannotRerun(Exception):
    """This job cannot be rerun by this caller; `forbidden` when the caller's role may not start its type."""

    def __init__(self, why: str, forbidden: bool = False) -> None:
        super().__init__(why)
        self.forbidden = forbidden


def rerun_request(job_type: str, value: Any, role: Role, owner: str) -> JobRequest:
    """The job that reruns a `job_type` job recorded with input `value`, owned by `owner`."""
    if job_type in SERVICES:
        raise CannotRerun(f"{job_type} is a service, not a job: it runs on its own and is never rerun")
    rerun = RERUNS.get(job_type)
    if rerun is None:
        raise CannotRerun(NOT_RERUN.get(job_type, f"no rerun is known for job type {job_type!r}"))
    if role not in rerun.roles:
        allowed = ", ".join(sorted(rerun.roles))
        raise CannotRerun(f"starting a {job_type} job is for {allowed}", forbidden=True)
    try:
        return rerun.job(value, owner)
    except ValidationError as exc:  # recorded by an older release whose input no longer reads
        why = exc.errors()[0]["msg"]
        raise CannotRerun(f"this job's recorded input no longer fits {job_type}'s input: {why}") from None
