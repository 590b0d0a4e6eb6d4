"""A workflow changed while a job of the old code runs: with the SDK's patching the job finishes on the new worker,
the old path for what it had already done and the new one from then on; the same change without a patch breaks it
(nondeterminism), which is why a released workflow changes only behind `workflow.patched`."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

# The sandbox re-imports this module for each workflow: what the workflows do not use passes through.
with workflow.unsafe.imports_passed_through():
    from devstack.clients import eventually
    from worker import SANDBOX

NAME = "TestPatchedJob"
STEP = {"start_to_close_timeout": timedelta(seconds=10)}


@activity.defn(name="test.step")
async def step(name: str) -> str:
    return name


@activity.defn(name="test.check")
async def check() -> str:
    return "check"


class Job:
    """What every version shares: a job that does a step, waits to be told to go on, then finishes."""

    def __init__(self) -> None:
        self.go = False
        self.done: list[str] = []

    @workflow.signal
    def proceed(self) -> None:
        self.go = True

    async def rest(self) -> list[str]:
        await workflow.wait_condition(lambda: self.go)
        self.done.append(await workflow.execute_activity(step, "last", **STEP))
        return self.done


@workflow.defn(name=NAME)
class Released(Job):
    @workflow.run
    async def run(self) -> list[str]:
        self.done.append(await workflow.execute_activity(step, "first", **STEP))
        return await self.rest()


@workflow.defn(name=NAME)
class Patched(Job):
    """The change: a check before the first step. New jobs run it; a running job keeps its recorded path."""

    @workflow.run
    async def run(self) -> list[str]:
        if workflow.patched("check-first"):
            self.done.append(await workflow.execute_activity(check, **STEP))
        self.done.append(await workflow.execute_activity(step, "first", **STEP))
        return await self.rest()


@workflow.defn(name=NAME)
class Unpatched(Job):
    @workflow.run
    async def run(self) -> list[str]:
        self.done.append(await workflow.execute_activity(check, **STEP))
        self.done.append(await workflow.execute_activity(step, "first", **STEP))
        return await self.rest()


@asynccontextmanager
async def deployed(client: Client, version: type, queue: str) -> AsyncIterator[None]:
    async with Worker(client, task_queue=queue, workflows=[version], activities=[step, check], workflow_runner=SANDBOX):
        yield


async def first_step_done(client: Client, job_id: str) -> bool:
    history = await client.get_workflow_handle(job_id).fetch_history()
    return any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED for e in history.events)


async def a_job_of_the_released_code(client: Client, queue: str):
    """A job started on the released code, left waiting after its first step, its worker gone."""
    async with deployed(client, Released, queue):
        handle = await client.start_workflow(NAME, id=f"patching-{uuid.uuid4().hex[:8]}", task_queue=queue)
        await eventually(lambda: first_step_done(client, handle.id), "the first step", within=30)
    return handle


async def test_a_running_job_finishes_on_the_patched_code(env):
    queue = f"patching-{uuid.uuid4().hex[:8]}"
    running = await a_job_of_the_released_code(env.client, queue)
    async with deployed(env.client, Patched, queue):
        await running.signal("proceed")
        assert await running.result() == ["first", "last"], "the running job kept the path it had recorded"
        new = await env.client.start_workflow(NAME, id=f"patching-{uuid.uuid4().hex[:8]}", task_queue=queue)
        await new.signal("proceed")
        assert await new.result() == ["check", "first", "last"], "a new job takes the new path"


async def test_the_same_change_without_a_patch_breaks_the_running_job(env):
    queue = f"patching-{uuid.uuid4().hex[:8]}"
    running = await a_job_of_the_released_code(env.client, queue)

    async def nondeterministic() -> bool:
        history = await running.fetch_history()
        failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
        return any("nondeterminism" in e.workflow_task_failed_event_attributes.failure.message.lower() for e in failed)

    async with deployed(env.client, Unpatched, queue):
        await running.signal("proceed")
        await eventually(nondeterministic, "the replay to fail on the unpatched change", within=30)
    await running.terminate("shown")
