"""`python worker.py`: one Temporal worker with every workflow and activity.

Start as many as you like (`make worker`); they share the task queue, and any of them
picks up what a dead one left.
"""

import asyncio
import logging
import os
import signal
import socket
import sys
from datetime import timedelta
from typing import NoReturn

from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import log_setup
from activities.crossposting import CrosspostingActivities, channel_sources
from activities.news import NewsActivities
from activities.onec import OneCActivities, ScheduledSync
from activities.tracker import TrackerActivities
from activities.tracker_analysis import AnalysisActivities
from activities.tracker_avatars import AvatarActivities, AvatarCache
from activities.tracker_embeddings import EmbeddingActivities
from activities.tracker_experiments import ExperimentActivities
from activities.tracker_extraction import KnowledgeActivities
from activities.tracker_inbox import ExtractionTrigger, InboxActivities
from activities.tracker_ingestion import IngestionActivities
from activities.webbuddy import WebBuddyActivities
from clients.feeds import FeedClient, feed_http
from clients.llm import LLMClient
from clients.max import MaxClient
from clients.onec import OneCClient
from clients.providers import ProviderClients
from clients.telegram_bot import TelegramBotClient, bot_http
from clients.telegram_history import ChatHistory
from db.rate_limits import PostgresRateLimiter
from db.session import make_engine, make_session_factory
from runtime import metrics
from runtime.database_outage import DatabaseOutageInterceptor
from runtime.temporal import MAX_BACKOFF_SECONDS, connect, connect_patiently
from settings import Settings, get_settings
from workflows.crossposting import MigrateChannelWorkflow
from workflows.news import NewsDiscoveryWorkflow
from workflows.onec import (
    ScheduledOneCSyncWorkflow,
    SyncBankTransactionsWorkflow,
    SyncContractorsWorkflow,
    scheduled_job,
)
from workflows.schedules import ensure_schedules, schedule_id
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
from workflows.webbuddy import ProcessQueryWorkflow, ReconcileQueriesWorkflow, query_job

WORKFLOWS = [
    NewsDiscoveryWorkflow,
    ProcessQueryWorkflow,
    ReconcileQueriesWorkflow,
    MigrateChannelWorkflow,
    SyncBankTransactionsWorkflow,
    SyncContractorsWorkflow,
    ScheduledOneCSyncWorkflow,
    TrackerUpdateWorkflow,
    ExtractKnowledgeWorkflow,
    ReconcileTrackerInboxWorkflow,
    TrackerInboxWorkflow,
    ScoreUnscoredMessagesWorkflow,
    AnalysisRunWorkflow,
    ClassificationExperimentWorkflow,
    IngestMessagesWorkflow,
    EmbedItemsWorkflow,
]

# The sandbox re-imports workflow modules for every new workflow; the protocol module holds no
# mutable state, so sharing it is safe and saves ~12% of worker CPU (bench webbuddy: one worker
# holds 25 queries/s instead of 20).
SANDBOX = SandboxedWorkflowRunner(
    # opentelemetry: the tracing interceptor's workflow side keeps its spans in the one real module.
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows.base", "opentelemetry")
)


log = logging.getLogger("longrun.worker")


class Dependencies:
    """What activities need, built once per worker process."""

    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client
        self.engine = make_engine(settings, "longrun-worker")
        self.sessions = make_session_factory(self.engine)
        # Every outside call goes through clients/outside_http.py: public addresses only (or ones allowed), capped.
        self.http = feed_http(settings)
        self.bot_http = bot_http(settings)
        self.bot = TelegramBotClient.from_settings(settings, self.bot_http)
        self.llm = LLMClient(settings)
        # The tracker's providers (embeddings): a client per provider endpoint, made when first used.
        self.providers = ProviderClients(settings)
        self.onec = OneCClient(settings)
        # MAX's limits hold across every worker process: the slots are handed out by Postgres.
        per_chat = settings.max_chat_messages_per_second > 0
        self.max = MaxClient.from_settings(
            settings,
            PostgresRateLimiter.from_settings(self.sessions, settings),
            PostgresRateLimiter.from_settings(self.sessions, settings, per_chat=True) if per_chat else None,
        )

    def activities(self) -> list:
        news = NewsActivities(self.sessions, FeedClient(self.http), self.llm)
        webbuddy = WebBuddyActivities(self.sessions, self.llm, self.client, self.start_query)
        migration = CrosspostingActivities(
            self.sessions,
            channel_sources(self.settings),
            self.max,
            self.settings.media_dir,
            self.settings.crossposting_prepare_ahead,
        )
        onec = OneCActivities(self.sessions, self.onec, self.llm, self.settings.onec_categories, self.start_scheduled)
        trigger = ExtractionTrigger(
            threshold=self.settings.tracker_extraction_threshold,
            window_hours=self.settings.tracker_extraction_window_hours,
        )
        avatars = AvatarCache(self.sessions, self.bot, self.settings.avatars_dir)
        avatar_steps = AvatarActivities(self.sessions, avatars)
        tracker = TrackerActivities(self.sessions, avatars, trigger, self.trigger_extraction)
        inbox = InboxActivities(self.sessions, avatars, trigger, self.trigger_extraction, self.ensure_drainer)
        knowledge = KnowledgeActivities(
            self.sessions,
            self.llm,
            self.settings.tracker_extraction_concurrency,
            self.settings.tracker_extraction_gather_seconds,
        )
        analysis = AnalysisActivities(
            self.sessions, self.llm, self.providers, rows_per_step=self.settings.analysis_rows_per_step
        )
        experiments = ExperimentActivities(self.sessions, self.llm)
        # The migration's pyrogram client and stand-in; a client per page, as the migration has a source per step.
        ingestion = IngestionActivities(self.sessions, lambda chat: ChatHistory.from_settings(self.settings, chat))
        embeddings = EmbeddingActivities(self.sessions, self.providers)
        return [
            news.discover_source,
            webbuddy.claim,
            webbuddy.answer,
            webbuddy.finish,
            webbuddy.reconcile,
            migration.survey,
            migration.read_page,
            migration.publish_page,
            migration.tally,
            onec.count,
            onec.sync_page,
            onec.apply_rules,
            onec.classify_with_llm,
            onec.start_scheduled,
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

    async def start_query(self, query_id: int, owner: str) -> None:
        await start_job(self.client, self.settings, query_job(query_id, owner))

    async def start_scheduled(self, sync: ScheduledSync) -> str:
        return (await start_job(self.client, self.settings, scheduled_job(sync))).id

    async def ensure_drainer(self) -> str:
        """Start the inbox drainer unless it runs; answers its run id."""
        inp = TrackerInboxInput(batch=self.settings.tracker_inbox_batch)
        job = inbox_job(inp, schedule_id(INBOX_ID, self.settings))
        return (await start_job(self.client, self.settings, job)).result_run_id or ""

    async def trigger_extraction(self, chat_id: int) -> str:
        inp = ExtractKnowledgeInput(
            chat_id=chat_id,
            batch=self.settings.tracker_extraction_batch,
            minimum=self.settings.tracker_extraction_threshold,
            window_hours=self.settings.tracker_extraction_window_hours,
        )
        return (await start_job(self.client, self.settings, extraction_job(inp), signal=MORE)).id

    async def ping_database(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("select 1"))

    async def close(self) -> None:
        await self.bot_http.aclose()
        await self.onec.close()
        await self.max.close()
        await self.http.aclose()
        await self.llm.close()
        await self.providers.close()
        await self.engine.dispose()


def build_worker(client: Client, settings: Settings, deps: Dependencies, workflows: list | None = None) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS if workflows is None else workflows,
        workflow_runner=SANDBOX,
        activities=deps.activities(),
        # A dead worker's sticky workflow tasks move to the shared queue after this long
        # (Temporal's default is 10 s; see docs/recovery.md).
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_queue_timeout_seconds),
        graceful_shutdown_timeout=timedelta(seconds=5),
        interceptors=[DatabaseOutageInterceptor(deps.ping_database)],
    )


async def main() -> None:
    log_setup.configure()
    # httpx logs every request at INFO: thousands a minute from a migration, and their formatting costs CPU.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    if settings.worker_metrics_port:
        metrics.serve(settings.worker_metrics_port)
    client = await reach_temporal(settings)
    deps = Dependencies(settings, client)
    worker = build_worker(client, settings, deps)
    try:
        log.info("tracker inbox drainer: run %s", await deps.ensure_drainer())
    except Exception as exc:  # the inbox sweep's schedule starts it once Temporal answers
        log.warning("tracker inbox drainer not started yet: %s", exc)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %r at %s", settings.task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
    await deps.close()
    log.info("worker stopped")


async def reach_temporal(settings: Settings) -> Client:
    """Connect and set up this deployment's schedules, waiting for Temporal however long it is away: a worker
    started while Temporal restarts waits for it instead of exiting (nothing else would start it again)."""
    client = await connect_patiently(settings, retry=None)
    delay = 1.0
    while True:
        try:
            for created in await ensure_schedules(client, settings):
                log.info("created schedule %s", created)
            return client
        except RPCError as exc:  # up but not ready yet (its namespace or search attributes still being set up)
            log.warning("Temporal at %s not ready, retrying in %.0fs: %s", settings.temporal_address, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


async def polling(settings: Settings) -> bool:
    """The container's health check (`python worker.py --health`): a worker on this host polls the task queue.
    (The SDK's identity is pid@hostname; the server lists a poller for a while after it stops, and a worker
    that exits takes its container down with it, where the restart policy takes over.)"""
    client = await connect(settings)
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    response = await client.workflow_service.describe_task_queue(request)
    return any(poller.identity.endswith(f"@{socket.gethostname()}") for poller in response.pollers)


def exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown: the SDK's Rust threads can still hold the GIL while it finalizes,
    and the process then aborts (SIGABRT, exit -6) after its work is done (temporalio/sdk-python#300; seen on the
    health check). Logs and output are flushed first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:] == ["--health"]:
        exit_now(0 if asyncio.run(polling(get_settings())) else 1)
    asyncio.run(main())
    exit_now(0)
