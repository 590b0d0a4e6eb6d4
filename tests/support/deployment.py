"""A test module's own deployment on the session's stack (an API and a worker on the module's task queue), and a test's
own database and Temporal."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from devstack import processes as ps
from devstack.clients import Api
from devstack.stack import Stack


@asynccontextmanager
async def deployment(stack: Stack, admin: Api, name: str, task_queue: str, **env: str) -> AsyncIterator[Api]:
    """`api-<name>` and `worker-<name>` on `task_queue` with `env`, and the admin's client of that API (its address
    as `.url`, for logging other users in to it); both processes are stopped afterwards."""
    url = stack.start_api(f"api-{name}", task_queue=task_queue, **env)
    stack.start_worker(f"worker-{name}", task_queue=task_queue, **env)
    api = Api(url, admin.token)
    api.url = url
    try:
        yield api
    finally:
        await api.close()
        stack.stop_named(f"api-{name}", f"worker-{name}")


class Isolated:
    """A test's own database and Temporal, so no other deployment's schedule or sweep touches what it counts.
    Temporal keeps its state in a file: `stop_temporal()` then `start_temporal()` is an outage, not a reset."""

    def __init__(self, stack: Stack, name: str) -> None:
        self._stack, self._name = stack, name
        self._file = stack.data_dir / f"{name}-temporal.db"
        self.port = ps.free_port()
        self.database_url = stack.create_database(name)
        self.database = stack.database(self.database_url)
        self.env = {"LONGRUN_TEMPORAL_ADDRESS": f"{ps.HOST}:{self.port}", "LONGRUN_DATABASE_URL": self.database_url}
        self.start_temporal()

    def start_temporal(self) -> None:
        self.temporal = ps.start_temporal(self._file, self.port, None, self._stack.logs, name=f"temporal-{self._name}")

    def stop_temporal(self) -> None:
        self.temporal.stop()


@asynccontextmanager
async def isolated(stack: Stack, name: str) -> AsyncIterator[Isolated]:
    own = Isolated(stack, name)
    try:
        yield own
    finally:
        await own.database.dispose()
        own.stop_temporal()
