"""A test module's own deployment on the session's stack: an API and a worker on the module's task queue."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
