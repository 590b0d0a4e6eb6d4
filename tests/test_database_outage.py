"""An activity that finds our database down waits for it and runs again in the same attempt: the retry policy's
attempts stay a budget for outside services, and the checkpoint it heartbeated is kept while it waits."""

import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

# The sandbox re-imports this module for the workflow: what the workflow does not use passes through.
with workflow.unsafe.imports_passed_through():
    import pytest
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from temporalio.client import Client, WorkflowFailureError
    from temporalio.worker import Worker

    from runtime.database_outage import DatabaseOutageInterceptor, caused_by_outage, outage_reason
    from worker import SANDBOX

TWO_ATTEMPTS = RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=100))


class Database:
    """The stack's Postgres, or while `down` a socket directory where nothing listens: the errors are asyncpg's."""

    def __init__(self, url: str, dead_dir: str) -> None:
        self.up = create_async_engine(url, pool_size=1)
        self.dead = create_async_engine(f"postgresql+asyncpg://postgres@/x?host={dead_dir}", pool_size=1)
        self.down = 0  # how many more connections fail
        self.runs: list[tuple[int, list]] = []

    async def select_one(self) -> int:
        if self.down:
            self.down -= 1
            engine = self.dead
        else:
            engine = self.up
        async with engine.connect() as conn:
            return await conn.scalar(text("select 1"))

    async def close(self) -> None:
        await self.up.dispose()
        await self.dead.dispose()


@workflow.defn(name="TestDatabaseOutage")
class OutageJob:
    @workflow.run
    async def run(self, activity_name: str) -> list:
        return await workflow.execute_activity(
            activity_name,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=TWO_ATTEMPTS,
        )


@pytest.fixture
async def database_with_outage(stack, tmp_path):
    (tmp_path / ".s.PGSQL.5432").touch()  # the socket file a killed server leaves behind: connections are refused
    db = Database(stack.pg.database_url, str(tmp_path))
    yield db
    await db.close()


async def run_job(temporal: Client, db: Database, activities: list, name: str) -> list:
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    interceptor = DatabaseOutageInterceptor(db.select_one, within=30)
    async with Worker(
        temporal,
        task_queue=queue,
        workflows=[OutageJob],
        activities=activities,
        workflow_runner=SANDBOX,
        interceptors=[interceptor],
    ):
        job_id = f"outage-{uuid.uuid4().hex[:8]}"
        return await temporal.execute_workflow(OutageJob.run, name, id=job_id, task_queue=queue)


async def test_an_activity_waits_out_the_outage_in_its_attempt(temporal, database_with_outage):
    db = database_with_outage

    @activity.defn(name="outage.read")
    async def read() -> list:
        info = activity.info()
        db.runs.append((info.attempt, list(info.heartbeat_details)))
        if len(db.runs) == 1:
            activity.heartbeat("checkpoint 1")
            # The outage outlasts the heartbeat timeout (1 s): the 6 probes, 0.5 s apart, must each heartbeat.
            db.down = 1 + 6
        elif len(db.runs) == 2:
            raise ValueError("an outside failure, for the retry policy")
        return [await db.select_one(), info.attempt]

    assert await run_job(temporal, db, [read], "outage.read") == [1, 2]
    # The outage cost no attempt: run 2 was attempt 1 still. Its outside failure went to the policy, and attempt 2
    # resumed from the checkpoint run 1 heartbeated, which the waiting kept alive.
    assert db.runs == [(1, []), (1, []), (2, ["checkpoint 1"])]


async def test_an_error_of_another_kind_goes_to_the_retry_policy(temporal, database_with_outage):
    db = database_with_outage

    @activity.defn(name="outage.broken")
    async def broken() -> list:
        db.runs.append((activity.info().attempt, []))
        try:
            open("/nonexistent/export.json")  # noqa: ASYNC230 - a FileNotFoundError that is not the database's
        except FileNotFoundError as exc:
            raise ValueError("the export is missing") from exc
        return []

    with pytest.raises(WorkflowFailureError):
        await run_job(temporal, db, [broken], "outage.broken")
    assert db.runs == [(1, []), (2, [])]  # each attempt ran once: nothing waited, nothing ran again


async def test_the_outage_is_found_through_the_errors_it_was_raised_from(database_with_outage):
    db = database_with_outage
    db.down = 1
    with pytest.raises(OSError) as refused:
        await db.select_one()
    try:
        raise RuntimeError("could not load the source") from refused.value
    except RuntimeError as wrapped:
        assert caused_by_outage(wrapped)
    assert not caused_by_outage(RuntimeError("a bug"))


async def test_the_log_names_the_outage_without_the_statement_or_its_values(stack, database):
    """A connection Postgres dropped fails the statement on it; the message SQLAlchemy builds carries both."""
    engine = create_async_engine(stack.pg.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("select pg_backend_pid()"))
            async with database.begin() as admin:
                await admin.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(Exception) as dropped:
                await conn.execute(text("select :secret"), {"secret": "a user's message text"})
    finally:
        await engine.dispose()
    assert caused_by_outage(dropped.value) and "a user's message text" in str(dropped.value)
    reason = outage_reason(dropped.value)
    assert "a user's message text" not in reason and "\n" not in reason and reason
