"""`python worker.py`: one Temporal worker with every workflow and activity.

Start as many as you like (`make worker`); they share the task queue, and any of them
picks up what a dead one left.
"""

import asyncio
import logging
import signal
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.news import NewsActivities
from clients.feeds import FeedClient
from clients.llm import LLMClient
from clients.temporal import connect
from db.session import make_engine, make_session_factory
from settings import Settings, get_settings
from workflows.news_discovery import NewsDiscoveryWorkflow

WORKFLOWS = [NewsDiscoveryWorkflow]

log = logging.getLogger("longrun.worker")


class Dependencies:
    """What activities need, built once per worker process."""

    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings)
        self.sessions = make_session_factory(self.engine)
        self.http = httpx.AsyncClient(timeout=settings.feed_timeout_seconds)
        self.llm = LLMClient(settings)

    def activities(self) -> list:
        news = NewsActivities(self.sessions, FeedClient(self.http), self.llm)
        return [news.discover_source]

    async def close(self) -> None:
        await self.http.aclose()
        await self.llm.close()
        await self.engine.dispose()


def build_worker(client: Client, settings: Settings, deps: Dependencies) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=deps.activities(),
        # A dead worker's sticky workflow tasks move to the shared queue after this long
        # (Temporal's default is 10 s; see README, "Recovery").
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.sticky_queue_timeout_seconds),
        graceful_shutdown_timeout=timedelta(seconds=5),
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()
    client = await connect(settings)
    deps = Dependencies(settings)
    worker = build_worker(client, settings, deps)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %r at %s", settings.task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
    await deps.close()
    log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
