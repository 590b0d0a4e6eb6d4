"""`python worker.py [--queues bulk,llm]`: Temporal workers for the kinds of work this process serves, one SDK Worker
per task queue, each with every workflow and activity (runtime/queues.py; docs/production.md).

Start as many as you like (`make worker`); those serving a kind share its queue, and any of them
picks up what a dead one left.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from datetime import timedelta
from typing import NoReturn, Protocol

from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import ResourceBasedSlotConfig, Worker, WorkerTuner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import log_setup
from applications import APPLICATIONS
from clients.feeds import feed_http
from clients.llm import LLMClient
from clients.max import MaxClient
from clients.onec import OneCClient
from clients.providers import ProviderClients
from clients.telegram_bot import TelegramBotClient, bot_http
from db.rate_limits import PostgresRateLimiter
from db.session import make_engine, make_session_factory
from runtime import metrics
from runtime.database_outage import DatabaseOutageInterceptor
from runtime.queues import QueueKind, parse_kinds, worker_queues
from runtime.search_attributes import SearchAttributesMissing, ensure_search_attributes, required
from runtime.temporal import MAX_BACKOFF_SECONDS, connect, connect_patiently
from settings import Settings, get_settings
from workflows.base import JOB_ATTRIBUTES
from workflows.job_records import JobRecordInterceptor
from workflows.schedules import ensure_schedules

WORKFLOWS = [workflow for application in APPLICATIONS for workflow in application.workflows]

# The sandbox re-imports workflow modules for every new workflow; the protocol module holds no
# mutable state, so sharing it is safe and saves ~12% of worker CPU (bench webbuddy: one worker
# holds 25 queries/s instead of 20).
SANDBOX = SandboxedWorkflowRunner(
    # opentelemetry: the tracing interceptor's workflow side keeps its spans in the one real module.
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows.base", "opentelemetry")
)


log = logging.getLogger("longrun.worker")


class Dependencies:
    """What the applications' activities share, built once per worker process."""

    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client
        self.engine = make_engine(settings, "longrun-worker")
        self.sessions = make_session_factory(self.engine)
        # LISTEN needs a session of its own on Postgres itself: behind a transaction pooler, a small direct pool.
        self.listen_engine = (
            make_engine(direct_settings(settings), "longrun-listen", pool_size=2)
            if settings.direct_database_url
            else self.engine
        )
        self.listen_sessions = make_session_factory(self.listen_engine)
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
        return [step for application in APPLICATIONS for step in application.activities(self)]

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
        if self.listen_engine is not self.engine:
            await self.listen_engine.dispose()


def direct_settings(settings: Settings) -> Settings:
    """The settings with the database reached directly (LONGRUN_DIRECT_DATABASE_URL), not through the pooler."""
    return settings.model_copy(update={"database_url": settings.direct_database_url})


class WorkerParts(Protocol):
    """What `build_worker` asks of its dependencies: `Dependencies`, or the bench worker's own (bench/worker.py)."""

    def activities(self) -> list: ...

    async def ping_database(self) -> None: ...


def build_worker(
    client: Client,
    settings: Settings,
    deps: WorkerParts,
    workflows: list | None = None,
    *,
    task_queue: str | None = None,
    kind: QueueKind = QueueKind.interactive,
) -> Worker:
    """The Worker of one task queue (by default the deployment's base queue), sized as `kind`'s settings say."""
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        # Every queue's worker knows every workflow and activity: a run that lands on another kind's queue (an old
        # release's, or a kind changed) still runs, with that queue's slots.
        workflows=WORKFLOWS if workflows is None else workflows,
        workflow_runner=SANDBOX,
        activities=deps.activities(),
        # A dead worker's sticky workflow tasks move to the shared queue after this long
        # (Temporal's default is 10 s; see docs/recovery.md).
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_queue_timeout_seconds),
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_seconds),
        interceptors=[DatabaseOutageInterceptor(deps.ping_database), JobRecordInterceptor()],
        **sizing(settings, kind),
    )


def slots(settings: Settings, kind: QueueKind) -> tuple[int, int, int]:
    """(workflow tasks, activities, local activities) a worker of `kind`'s queue runs at once, at most."""
    prefix = f"worker_{kind.value}_"
    return (
        getattr(settings, prefix + "workflow_tasks"),
        getattr(settings, prefix + "activities"),
        getattr(settings, prefix + "local_activities"),
    )


def sizing(settings: Settings, kind: QueueKind) -> dict:
    """The SDK Worker's slot options for `kind`: fixed counts, or, with tuner targets set, the resource-based tuner
    capped at those counts."""
    workflow_tasks, activities, local_activities = slots(settings, kind)
    if settings.worker_tuner_target_memory > 0:
        return {
            "tuner": WorkerTuner.create_resource_based(
                target_memory_usage=settings.worker_tuner_target_memory,
                target_cpu_usage=settings.worker_tuner_target_cpu,
                workflow_config=ResourceBasedSlotConfig(maximum_slots=workflow_tasks),
                activity_config=ResourceBasedSlotConfig(maximum_slots=activities),
                local_activity_config=ResourceBasedSlotConfig(maximum_slots=local_activities),
            )
        }
    return {
        "max_concurrent_workflow_tasks": workflow_tasks,
        "max_concurrent_activities": activities,
        "max_concurrent_local_activities": local_activities,
    }


def build_workers(client: Client, settings: Settings, deps: WorkerParts) -> list[Worker]:
    """One Worker per queue this process serves (`LONGRUN_WORKER_QUEUES`), sharing its dependencies."""
    queues = worker_queues(settings.task_queue, parse_kinds(settings.worker_queues))
    return [build_worker(client, settings, deps, task_queue=queue, kind=kind) for queue, kind in queues.items()]


async def main(settings: Settings) -> None:
    log_setup.configure()
    # httpx logs every request at INFO: thousands a minute from a migration, and their formatting costs CPU.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.worker_metrics_port:
        metrics.serve(settings.worker_metrics_port)
    client = await reach_temporal(settings)
    deps = Dependencies(settings, client)
    workers = build_workers(client, settings, deps)
    for application in APPLICATIONS:
        if application.at_worker_start:
            await application.at_worker_start(deps)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    queues = ", ".join(repr(worker.task_queue) for worker in workers)
    log.info("worker polling task queues %s at %s", queues, settings.temporal_address)
    async with contextlib.AsyncExitStack() as running:
        for worker in workers:
            await running.enter_async_context(worker)
        await stop.wait()
        # Leaving shuts them down in reverse order, each waiting up to worker_shutdown_seconds: stop them all at
        # once instead, so the stop grace period a container needs is one timeout, not one per queue.
        await asyncio.gather(*(worker.shutdown() for worker in workers))
    await deps.close()
    log.info("worker stopped")


async def reach_temporal(settings: Settings) -> Client:
    """Connect, check the namespace's search attributes and set up this deployment's schedules, waiting for Temporal
    however long it is away: a worker started while Temporal restarts waits for it instead of exiting (nothing else
    would start it again)."""
    client = await connect_patiently(settings, retry=None)
    delay = 1.0
    while True:
        try:
            await ensure_search_attributes(client, settings.temporal, required(JOB_ATTRIBUTES))
            for created in await ensure_schedules(client, settings):
                log.info("created schedule %s", created)
            return client
        except SearchAttributesMissing as exc:  # a person must act: waiting would not help
            log.critical("%s", exc)
            exit_now(3)
        except RPCError as exc:  # up but not ready yet (its namespace or search attributes still being set up)
            log.warning("Temporal at %s not ready, retrying in %.0fs: %s", settings.temporal_address, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


async def polling(settings: Settings) -> bool:
    """The container's health check (`python worker.py --health`): a worker on this host polls each of the task
    queues its kinds name. (The SDK's identity is pid@hostname; the server lists a poller for a while after it
    stops, and a worker that exits takes its container down with it, where the restart policy takes over.)"""
    client = await connect(settings)
    for queue in worker_queues(settings.task_queue, parse_kinds(settings.worker_queues)):
        request = DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        response = await client.workflow_service.describe_task_queue(request)
        if not any(poller.identity.endswith(f"@{socket.gethostname()}") for poller in response.pollers):
            return False
    return True


def exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown: the SDK's Rust threads can still hold the GIL while it finalizes,
    and the process then aborts (SIGABRT, exit -6) after its work is done (temporalio/sdk-python#300; seen on the
    health check). Logs and output are flushed first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def settings_from(argv: list[str]) -> tuple[Settings, bool]:
    """Settings with `--queues` (over LONGRUN_WORKER_QUEUES) applied, and whether `--health` was asked."""
    parser = argparse.ArgumentParser(prog="worker.py", description="Longrun's Temporal worker")
    parser.add_argument("--health", action="store_true", help="exit 0 if this host polls each of its queues")
    parser.add_argument("--queues", help="the kinds of work to serve, comma-separated (interactive, bulk, llm)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.queues is not None:
        try:
            parse_kinds(args.queues)
        except ValueError as exc:
            parser.error(str(exc))
        settings = settings.model_copy(update={"worker_queues": args.queues})
    return settings, args.health


if __name__ == "__main__":
    settings, health = settings_from(sys.argv[1:])
    if health:
        exit_now(0 if asyncio.run(polling(settings)) else 1)
    asyncio.run(main(settings))
    exit_now(0)
