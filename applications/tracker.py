"""The task tracker: Telegram messages ingested, scored, turned into knowledge, embedded and analysed
(docs/tracker.md)."""

import logging
from functools import partial
from typing import TYPE_CHECKING

from applications.application import Application
from workflows.schedules import schedule_id
from workflows.start import start_job
from workflows.tracker import TrackerUpdateWorkflow
from workflows.tracker_analysis import AnalysisRunWorkflow
from workflows.tracker_embeddings import EmbedItemsWorkflow
from workflows.tracker_experiments import ClassificationExperimentWorkflow
from workflows.tracker_extraction import MORE, ExtractKnowledgeInput, ExtractKnowledgeWorkflow, extraction_job
from workflows.tracker_inbox import (
    INBOX_ID,
    ReconcileTrackerInboxWorkflow,
    ScoreUnscoredMessagesWorkflow,
    TrackerInboxInput,
    TrackerInboxWorkflow,
    inbox_job,
)
from workflows.tracker_ingestion import IngestMessagesWorkflow

if TYPE_CHECKING:
    from worker import Dependencies

log = logging.getLogger("longrun.worker")


async def ensure_drainer(deps: "Dependencies") -> str:
    """Start the inbox drainer unless it runs; answers its run id."""
    inp = TrackerInboxInput(batch=deps.settings.tracker_inbox_batch)
    job = inbox_job(inp, schedule_id(INBOX_ID, deps.settings))
    return (await start_job(deps.client, deps.settings, job)).result_run_id or ""


async def trigger_extraction(deps: "Dependencies", chat_id: int) -> str:
    inp = ExtractKnowledgeInput(
        chat_id=chat_id,
        batch=deps.settings.tracker_extraction_batch,
        minimum=deps.settings.tracker_extraction_threshold,
        window_hours=deps.settings.tracker_extraction_window_hours,
    )
    return (await start_job(deps.client, deps.settings, extraction_job(inp), signal=MORE)).id


def activities(deps: "Dependencies") -> list:
    # Imported here: only the worker builds steps, and the API reads this module for its routers.
    from activities.tracker import TrackerActivities
    from activities.tracker_analysis import AnalysisActivities
    from activities.tracker_avatars import AvatarActivities, AvatarCache
    from activities.tracker_embeddings import EmbeddingActivities
    from activities.tracker_experiments import ExperimentActivities
    from activities.tracker_extraction import KnowledgeActivities
    from activities.tracker_inbox import ExtractionTrigger, InboxActivities
    from activities.tracker_ingestion import IngestionActivities
    from clients.telegram_history import ChatHistory

    settings = deps.settings
    trigger, drainer = partial(trigger_extraction, deps), partial(ensure_drainer, deps)
    due = ExtractionTrigger(
        threshold=settings.tracker_extraction_threshold, window_hours=settings.tracker_extraction_window_hours
    )
    avatars = AvatarCache(deps.sessions, deps.bot, settings.avatars_dir)
    avatar_steps = AvatarActivities(deps.sessions, avatars)
    tracker = TrackerActivities(deps.sessions, avatars, due, trigger)
    inbox = InboxActivities(deps.sessions, avatars, due, trigger, drainer, deps.listen_sessions)
    knowledge = KnowledgeActivities(
        deps.sessions, deps.llm, settings.tracker_extraction_concurrency, settings.tracker_extraction_gather_seconds
    )
    analysis = AnalysisActivities(
        deps.sessions, deps.llm, deps.providers, rows_per_step=settings.analysis_rows_per_step
    )
    experiments = ExperimentActivities(deps.sessions, deps.llm)
    # A pyrogram client per page, as crossposting has a source per step.
    ingestion = IngestionActivities(deps.sessions, lambda chat: ChatHistory.from_settings(settings, chat))
    embeddings = EmbeddingActivities(deps.sessions, deps.providers)
    return [
        tracker.save_update,
        tracker.score_messages,
        tracker.trigger_extraction,
        inbox.take_updates,
        avatar_steps.fetch_avatar,
        avatar_steps.fetch_avatars,
        avatar_steps.profiles_awaiting_avatar,
        inbox.trigger_extractions,
        inbox.score_unscored,
        inbox.reconcile_inbox,
        knowledge.extract_batch,
        knowledge.release_claim,
        analysis.start_run,
        analysis.next_batch,
        analysis.propose_batch,
        analysis.log_batch_error,
        analysis.finish_run,
        experiments.start_experiment,
        experiments.classify_batch,
        experiments.finish_experiment,
        ingestion.begin,
        ingestion.ingest_page,
        ingestion.finish,
        embeddings.embed_messages_batch,
        embeddings.embed_atoms_batch,
        embeddings.list_unembedded,
        embeddings.active_provider,
    ]


def routers() -> list:
    # Imported here: the worker reads this module for its workflows.
    from api.routes import (
        tracker_agents,
        tracker_analysis,
        tracker_embeddings,
        tracker_extraction,
        tracker_ingestion,
        tracker_providers,
        tracker_read,
        tracker_scoring,
        tracker_webhook,
    )

    # Telegram's webhook first: hundreds of requests a second at peak, matched before every other route.
    return [
        tracker_webhook.router,
        tracker_agents.router,
        tracker_analysis.router,
        tracker_embeddings.router,
        tracker_extraction.router,
        tracker_ingestion.router,
        tracker_providers.router,
        tracker_read.router,
        tracker_scoring.router,
    ]


async def start_drainer(deps: "Dependencies") -> None:
    try:
        log.info("tracker inbox drainer: run %s", await ensure_drainer(deps))
    except Exception as exc:  # the inbox sweep's schedule starts it once Temporal answers
        log.warning("tracker inbox drainer not started yet: %s", exc)


APPLICATION = Application(
    name="tracker",
    workflows=(
        TrackerUpdateWorkflow,
        ExtractKnowledgeWorkflow,
        ReconcileTrackerInboxWorkflow,
        TrackerInboxWorkflow,
        ScoreUnscoredMessagesWorkflow,
        AnalysisRunWorkflow,
        ClassificationExperimentWorkflow,
        IngestMessagesWorkflow,
        EmbedItemsWorkflow,
    ),
    activities=activities,
    routers=routers,
    at_worker_start=start_drainer,
)
