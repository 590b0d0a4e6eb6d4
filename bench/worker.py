"""The bench worker: worker.py's worker (same tuning, via `worker.build_worker`) plus the bench workflow.

`python -m bench.worker` is the process the recovery bench kills and replaces; the orchestration bench runs
`bench_worker(...)` inside the bench process itself. Both take every setting (task queue, sticky timeout, database) from
the environment exactly as worker.py does, so a tuning change in worker.py is measured without copying it.
"""

import asyncio
import logging
import signal

from temporalio.client import Client
from temporalio.worker import Worker

import worker as app_worker
from activities.job_records import JobRecordActivities
from bench.items import ItemActivities, ItemWriter
from bench.items_workflow import BenchItemsWorkflow
from db.session import SessionFactory, make_engine, make_session_factory
from runtime.temporal import connect
from settings import Settings, get_settings

log = logging.getLogger("longrun.bench.worker")


class _BenchDependencies:
    """`worker.WorkerParts`, what `worker.build_worker` asks of its dependencies: the activities, and a ping of the
    database they write."""

    def __init__(self, writer: ItemWriter, sessions: SessionFactory) -> None:
        self._writer = writer
        # Every job writes its record (workflows/job_records.py), the bench's too: its cost is part of what is measured.
        self._records = JobRecordActivities(sessions)

    def activities(self) -> list:
        return [ItemActivities(self._writer).write_items, self._records.record_start, self._records.record_close]

    async def ping_database(self) -> None:
        await self._writer.ping()


def bench_worker(client: Client, settings: Settings, writer: ItemWriter) -> Worker:
    """A worker built by worker.py's `build_worker` (its tuning), running the bench workflow and activity."""
    deps = _BenchDependencies(writer, make_session_factory(writer.engine))
    return app_worker.build_worker(client, settings, deps, workflows=[BenchItemsWorkflow])


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_settings()
    client = await connect(settings)
    engine = make_engine(settings)
    worker = bench_worker(client, settings, ItemWriter(engine))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "bench worker polling %r at %s (sticky %ss)",
        settings.task_queue,
        settings.temporal_address,
        settings.sticky_queue_timeout_seconds,
    )
    async with worker:
        await stop.wait()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
