"""Work split by kind on the real stack: each kind's jobs (and their activities, and the schedules' starts) land on
their kind's task queue; a worker serving only bulk work leaves an interactive job waiting until an interactive worker
comes; and a job on the single queue of earlier releases still completes."""

import asyncio
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from runtime.queues import QueueKind, queue_name
from runtime.temporal import connect
from settings import Settings
from tests.support.deployment import isolated
from workflows.news import DiscoverNewsInput, NewsDiscoveryWorkflow, discovery_job
from workflows.onec import SyncBankInput, bank_sync_job
from workflows.schedules import ONEC_BANK, RECONCILE, TRACKER_SCORING, schedule_id
from workflows.start import job_attributes, start_job, task_timeout
from workflows.tracker_extraction import ExtractKnowledgeInput, extraction_job
from workflows.tracker_inbox import INBOX_ID

ROOT = Path(__file__).resolve().parents[1]
SESSION_QUEUE = "longrun-test"  # the session's deployment: one worker serving every kind, as `make up` runs it
BANK = "/api/v1/sync-1c/bank-transactions/sync-async"


def on(kind: QueueKind, task_queue: str = SESSION_QUEUE) -> str:
    return queue_name(task_queue, kind)


async def queue_of(temporal: Client, job_id: str) -> str:
    return (await temporal.get_workflow_handle(job_id).describe()).task_queue


async def activity_queues(handle: WorkflowHandle) -> set[str]:
    return {
        event.activity_task_scheduled_event_attributes.task_queue.name
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }


async def test_each_kinds_jobs_and_schedules_land_on_their_kinds_queue(stack, admin, temporal, onec, make_user):
    # Interactive: a WebBuddy query, and the tracker's inbox drainer the worker started.
    user = await make_user()
    project = (await user.ok("POST", "/api/projects/", 201, json={"name": "queues"}))["id"]
    query = await user.ok("POST", "/api/queries/", 201, json={"project": project, "query_text": "which queue?"})
    assert await queue_of(temporal, f"webbuddy-query-{query['id']}") == on(QueueKind.interactive)
    settings = Settings(temporal_address=stack.temporal_address, task_queue=SESSION_QUEUE, _env_file=None)
    assert await queue_of(temporal, schedule_id(INBOX_ID, settings)) == on(QueueKind.interactive)

    # Bulk: a 1C sync, its activities with it.
    await onec.book(seed=31, documents=5, contractors=5)
    manager = await make_user("manager")
    job_id = (await manager.ok("POST", BANK, 202, json={"date_from": "2024-01-01", "date_to": "2024-01-31"}))["task_id"]
    assert await queue_of(temporal, job_id) == on(QueueKind.bulk)
    assert (await manager.wait_job(job_id, within=120))["status"] == "completed"
    assert await activity_queues(temporal.get_workflow_handle(job_id)) == {on(QueueKind.bulk)}

    # LLM: a chat's knowledge extraction, as the tracker's inbox starts it (applications/tracker.py).
    chat = -(10**12) - uuid.uuid4().int % 10**6
    handle = await start_job(temporal, settings, extraction_job(ExtractKnowledgeInput(chat_id=chat)))
    assert (await handle.describe()).task_queue == on(QueueKind.llm)
    await asyncio.wait_for(handle.result(), 60)

    # The schedules start on their kinds' queues too.
    for base, kind in ((ONEC_BANK, QueueKind.bulk), (RECONCILE, QueueKind.interactive)):
        action = (await temporal.get_schedule_handle(schedule_id(base, settings)).describe()).schedule.action
        assert getattr(action, "task_queue", None) == on(kind), base
    scoring = await temporal.get_schedule_handle(schedule_id(TRACKER_SCORING, settings)).describe()
    assert getattr(scoring.schedule.action, "task_queue", None) == on(QueueKind.interactive)


def health(env: dict[str, str], *args: str) -> int:
    command = [sys.executable, "worker.py", "--health", *args]
    return subprocess.run(command, cwd=ROOT, env=env, timeout=60, capture_output=True).returncode


async def never_started(handle: WorkflowHandle) -> bool:
    """No worker has taken the run's first workflow task yet."""
    return not [
        event
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ]


async def test_a_bulk_worker_leaves_interactive_work_until_an_interactive_worker_comes(stack, onec):
    queue = f"kinds-{uuid.uuid4().hex[:6]}"
    # Its own Temporal and database: the 1C sync's job id is one per deployment, and no other worker polls here.
    async with isolated(stack, "queue_kinds") as own:
        address = own.env["LONGRUN_TEMPORAL_ADDRESS"]
        stack.start_worker("worker-bulk", task_queue=queue, LONGRUN_WORKER_QUEUES="bulk", **own.env)
        try:
            temporal = await connect(Settings(temporal_address=address, _env_file=None))
            settings = Settings(temporal_address=address, task_queue=queue, _env_file=None)
            await onec.book(seed=32, documents=5, contractors=5)
            period = SyncBankInput(date_from=date(2024, 2, 1), date_to=date(2024, 2, 29))
            bulk = await start_job(temporal, settings, bank_sync_job(period, "admin"))
            interactive = await start_job(temporal, settings, discovery_job(DiscoverNewsInput(sources=[]), "admin"))
            # A discovery started on the one queue of the releases before the split, as a running one was left.
            legacy = await temporal.start_workflow(
                NewsDiscoveryWorkflow.run,
                DiscoverNewsInput(sources=[]),
                id=f"legacy-discovery-{uuid.uuid4().hex[:6]}",
                task_queue=queue,
                task_timeout=task_timeout(settings),
                search_attributes=job_attributes("news_discovery", "admin"),
            )

            assert (await asyncio.wait_for(bulk.result(), 120)).status.value == "completed"
            for waiting in (interactive, legacy):
                assert (await waiting.describe()).status == WorkflowExecutionStatus.RUNNING
                assert await never_started(waiting), "a bulk-only worker took interactive work"
            env = stack.env(queue, **own.env)
            assert health({**env, "LONGRUN_WORKER_QUEUES": "bulk"}) == 0
            assert health(env, "--queues", "interactive") == 1, "no interactive worker polls yet"

            stack.start_worker("worker-interactive", task_queue=queue, LONGRUN_WORKER_QUEUES="interactive", **own.env)
            for waiting in (interactive, legacy):
                assert (await asyncio.wait_for(waiting.result(), 60)).status.value == "completed"
            assert health(env, "--queues", "interactive") == 0
        finally:
            stack.stop_named("worker-bulk", "worker-interactive")


def test_a_worker_refuses_a_kind_it_does_not_know():
    run = subprocess.run(
        [sys.executable, "worker.py", "--queues", "bulk,batch"], cwd=ROOT, timeout=60, capture_output=True, text=True
    )
    assert run.returncode == 2 and "unknown queue kind 'batch'" in run.stderr
