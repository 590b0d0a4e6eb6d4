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
from typing import NoReturn, Protocol

from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker
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
from runtime.temporal import MAX_BACKOFF_SECONDS, connect, connect_patiently
from settings import Settings, get_settings
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


class WorkerParts(Protocol):
    """What `build_worker` asks of its dependencies: `Dependencies`, or the bench worker's own (bench/worker.py)."""

    def activities(self) -> list: ...

    async def ping_database(self) -> None: ...


def build_worker(client: Client, settings: Settings, deps: WorkerParts, workflows: list | None = None) -> Worker:
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
        interceptors=[DatabaseOutageInterceptor(deps.ping_database), JobRecordInterceptor()],
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
    for application in APPLICATIONS:
        if application.at_worker_start:
            await application.at_worker_start(deps)
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
