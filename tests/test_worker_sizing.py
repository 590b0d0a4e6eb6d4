"""Worker sizing is settings: each queue kind's slots, the resource-based tuner, the shutdown grace and the database
pools reach the SDK Worker and the engine they are meant for; behind PgBouncer the statement caches are off."""

import uuid
from datetime import timedelta

from sqlalchemy import text
from temporalio import activity

import worker
from db.session import make_engine
from runtime.queues import QueueKind, queue_name
from settings import Settings

SIZES = {
    "worker_bulk_workflow_tasks": 7,
    "worker_bulk_activities": 5,
    "worker_bulk_local_activities": 3,
    "worker_llm_activities": 11,
    "worker_shutdown_seconds": 600,
}


def fresh() -> str:
    # The SDK's client refuses a second Worker on a queue while the first is registered (these are never run).
    return f"sizing-{uuid.uuid4().hex[:6]}"


class _Parts:
    def activities(self) -> list:
        return []

    async def ping_database(self) -> None:
        return None


async def test_each_queue_takes_its_kinds_slots_and_the_shutdown_grace(temporal):
    base = fresh()
    settings = Settings(task_queue=base, worker_queues="bulk,llm", _env_file=None, **SIZES)
    workers = {w.task_queue: w.config() for w in worker.build_workers(temporal, settings, _Parts())}

    # A bulk and an LLM worker: neither polls the interactive queue nor the base one it serves beside.
    assert set(workers) == {queue_name(base, QueueKind.bulk), queue_name(base, QueueKind.llm)}
    bulk, llm = workers[queue_name(base, QueueKind.bulk)], workers[queue_name(base, QueueKind.llm)]
    assert (bulk["max_concurrent_workflow_tasks"], bulk["max_concurrent_activities"]) == (7, 5)
    assert bulk["max_concurrent_local_activities"] == 3
    assert llm["max_concurrent_activities"] == 11 and llm["max_concurrent_workflow_tasks"] == 100
    assert bulk["graceful_shutdown_timeout"] == llm["graceful_shutdown_timeout"] == timedelta(seconds=600)


async def test_the_interactive_worker_also_polls_the_base_queue_of_earlier_releases(temporal):
    base = fresh()
    settings = Settings(task_queue=base, worker_queues="interactive", _env_file=None)
    queues = sorted(w.task_queue for w in worker.build_workers(temporal, settings, _Parts()))
    assert queues == [base, queue_name(base, QueueKind.interactive)]
    everything = Settings(task_queue=fresh(), _env_file=None)
    assert len(worker.build_workers(temporal, everything, _Parts())) == 4


async def test_the_resource_based_tuner_replaces_fixed_slots_capped_at_them(temporal):
    settings = Settings(
        task_queue=fresh(),
        worker_tuner_target_memory=0.7,
        worker_tuner_target_cpu=0.8,
        _env_file=None,
        **SIZES,
    )
    config = worker.build_worker(temporal, settings, _Parts(), task_queue=fresh(), kind=QueueKind.bulk).config()
    tuner = config["tuner"]
    assert tuner is not None and config["max_concurrent_activities"] is None
    supplier = tuner._get_activity_task_slot_supplier()
    assert (supplier.tuner_config.target_memory_usage, supplier.tuner_config.target_cpu_usage) == (0.7, 0.8)
    assert tuner._get_activities_max() == 5


async def test_without_statement_cache_the_engine_prepares_nothing_it_keeps(stack):
    settings = Settings(database_url=stack.pg.database_url, database_statement_cache=False, _env_file=None)
    engine = make_engine(settings, pool_size=1)
    try:
        async with engine.connect() as conn:
            for _ in range(3):  # a cached statement would be kept after its first run
                assert await conn.scalar(text("select 1")) == 1
            adapted = await conn.get_raw_connection()
            # SQLAlchemy's cache of prepared statements, and asyncpg's own beneath it.
            assert adapted.dbapi_connection._prepared_statement_cache is None
            assert adapted.driver_connection._stmt_cache.get_max_size() == 0
    finally:
        await engine.dispose()
    cached = make_engine(Settings(database_url=stack.pg.database_url, _env_file=None), pool_size=1)
    try:
        async with cached.connect() as conn:
            await conn.scalar(text("select 1"))
            adapted = await conn.get_raw_connection()
            assert adapted.dbapi_connection._prepared_statement_cache is not None
            assert adapted.driver_connection._stmt_cache.get_max_size() > 0
    finally:
        await cached.dispose()


def test_pool_sizes_come_from_settings():
    settings = Settings(worker_database_pool_size=7, _env_file=None)
    engine = make_engine(settings)
    try:
        assert engine.pool.size() == 7
    finally:
        engine.sync_engine.dispose()


async def test_the_listening_connections_reach_postgres_directly_behind_a_pooler(tmp_path):
    pooled, direct = "postgresql+asyncpg://u@pooler:6432/longrun", "postgresql+asyncpg://u@db:5432/longrun"
    settings = Settings(data_dir=tmp_path, database_url=pooled, direct_database_url=direct, _env_file=None)
    assert settings.listen_database_url == direct  # the API's LISTEN (api/event_listener.py)
    deps = worker.Dependencies(settings, client=None)  # pyright: ignore[reportArgumentType]
    try:
        names = {activity._Definition.must_from_callable(step).name: step for step in deps.activities()}
        take = names["tracker.take_updates"]
        inbox = take.__self__  # the drainer's wait LISTENs through these sessions
        assert inbox._listen_sessions.kw["bind"].url.port == 5432
        assert inbox._sessions.kw["bind"].url.port == 6432
    finally:
        await deps.close()
    assert Settings(database_url=pooled, _env_file=None).listen_database_url == pooled
