"""The Temporal Schedules a deployment runs, their ids and what they start, all from settings.

Not workflow code: the worker creates these at start and the API pauses and resumes them by the same ids.
Each deployment (task queue) has its own: the default queue's ids are plain, another queue's carry its name,
so stacks sharing one Temporal do not run each other's schedules.
"""

from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.onec import ScheduledSync
from activities.tracker_inbox import ReconcileInboxInput, ScoreUnscoredInput
from activities.webbuddy import ReconcileInput
from db.tracker_embeddings import EmbedKind
from settings import Settings
from workflows.onec import ScheduledOneCSyncWorkflow
from workflows.start import SCHEDULE_OWNER, scheduled
from workflows.tracker_embeddings import EmbedItemsInput, EmbedItemsWorkflow
from workflows.tracker_inbox import SCORING_JOB, ReconcileTrackerInboxWorkflow, ScoreUnscoredMessagesWorkflow
from workflows.webbuddy import ReconcileQueriesWorkflow

RECONCILE = "webbuddy-reconcile"
TRACKER_INBOX = "tracker-inbox-reconcile"
TRACKER_SCORING = "tracker-score-unscored"
ONEC_BANK = "onec-bank-transactions"
ONEC_CONTRACTORS = "onec-contractors"
EMBED_SWEEP = "tracker-embed-sweep"
# The schedules a person may pause (the reconcile sweep is the WebBuddy queue's safety net, not a choice).
PAUSABLE = {"bank-transactions": ONEC_BANK, "contractors": ONEC_CONTRACTORS}


def schedule_id(base: str, settings: Settings) -> str:
    default_queue = Settings.model_fields["task_queue"].default
    return base if settings.task_queue == default_queue else f"{base}-{settings.task_queue}"


def _every(seconds: float) -> ScheduleSpec:
    return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))])


def _schedule(
    settings: Settings, sid: str, run: Any, arg: Any, spec: ScheduleSpec, job: tuple[str, str] | None = None
) -> Schedule:
    """A schedule that starts `run(arg)` as `<sid>-run`, skipping a tick while the last one still runs; `job` is
    (job type, owner) when what it starts is a job people see in the list."""
    return Schedule(
        action=scheduled(settings, run, arg, workflow_id=f"{sid}-run", job=job),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def deployment_schedules(settings: Settings) -> dict[str, Schedule]:
    reconcile_id = schedule_id(RECONCILE, settings)
    bank_id, contractors_id = schedule_id(ONEC_BANK, settings), schedule_id(ONEC_CONTRACTORS, settings)
    inbox_id = schedule_id(TRACKER_INBOX, settings)
    scoring_id = schedule_id(TRACKER_SCORING, settings)
    schedules = {
        # The webhook chain's safety net: the inbox drainer runs, and no chat's extraction trigger stays lost.
        inbox_id: _schedule(
            settings,
            inbox_id,
            ReconcileTrackerInboxWorkflow.run,
            ReconcileInboxInput(),
            _every(settings.tracker_reconcile_seconds),
        ),
        scoring_id: _schedule(
            settings,
            scoring_id,
            ScoreUnscoredMessagesWorkflow.run,
            ScoreUnscoredInput(batch=settings.tracker_scoring_batch),
            _every(settings.tracker_scoring_sweep_minutes * 60),
            job=(SCORING_JOB, SCHEDULE_OWNER),
        ),
        reconcile_id: _schedule(
            settings,
            reconcile_id,
            ReconcileQueriesWorkflow.run,
            ReconcileInput(
                grace_seconds=settings.webbuddy_grace_seconds,
                stale_claim_seconds=settings.webbuddy_stale_claim_seconds,
            ),
            _every(settings.webbuddy_reconcile_seconds),
        ),
        bank_id: _schedule(
            settings,
            bank_id,
            ScheduledOneCSyncWorkflow.run,
            ScheduledSync(kind="bank_transactions", days_back=settings.onec_bank_days_back),
            _every(settings.onec_bank_every_minutes * 60),
        ),
        contractors_id: _schedule(
            settings,
            contractors_id,
            ScheduledOneCSyncWorkflow.run,
            ScheduledSync(kind="contractors"),
            ScheduleSpec(cron_expressions=[settings.onec_contractors_cron]),
        ),
    }
    if settings.tracker_embed_sweep_seconds > 0:
        # New messages and freshly extracted atoms get their vectors here, with no change to the chains that write
        # them: one listing step when nothing waits, batches of 100 when something does.
        sweep_id = schedule_id(EMBED_SWEEP, settings)
        schedules[sweep_id] = _schedule(
            settings,
            sweep_id,
            EmbedItemsWorkflow.run,
            EmbedItemsInput(kinds=[EmbedKind.messages, EmbedKind.atoms]),
            _every(settings.tracker_embed_sweep_seconds),
        )
    return schedules


def switched_off(settings: Settings) -> list[str]:
    """Schedules these settings turn off: deleted if an earlier start created them."""
    return [schedule_id(EMBED_SWEEP, settings)] if settings.tracker_embed_sweep_seconds <= 0 else []


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the deployment's schedules, or bring existing ones to these settings, paused or not as they were."""
    created = []
    for sid, schedule in deployment_schedules(settings).items():
        try:
            await client.create_schedule(sid, schedule)
            created.append(sid)
        except ScheduleAlreadyRunningError:

            def keep_state(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                # An operator's pause survives a worker restart: only what settings decide is replaced.
                return ScheduleUpdate(schedule=replace(new, state=current.description.schedule.state))

            await client.get_schedule_handle(sid).update(keep_state)
    for sid in switched_off(settings):
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
    return created
