"""Temporal down while Telegram delivers updates: the webhook still answers 200 and keeps them in its inbox; once
Temporal is back every message is saved and scored once, and updates that come after are taken as before.

(A take the drainer had in flight when Temporal went away goes on without it: updates may be saved during the
outage. What must hold is that none is lost and none is saved twice.)"""

import os
import time

import httpx
from sqlalchemy import text

from devstack import processes as ps
from devstack.clients import eventually
from runtime.temporal import connect
from settings import Settings
from tests.support.deployment import isolated
from tests.support.histories import record
from workflows.tracker_inbox import ReconcileTrackerInboxWorkflow

QUEUE = "tracker-outage"
SECRET = "outage-secret"
FAST_SWEEP = {"LONGRUN_TRACKER_RECONCILE_SECONDS": "2"}


def update(n: int) -> dict:
    return {
        "update_id": 7_000_000 + n,
        "message": {
            "message_id": n,
            "from": {"id": 42, "is_bot": False, "first_name": "Ops"},
            "chat": {"id": -4242, "type": "group"},
            "date": int(time.time()),
            "text": f"disk on db host {n} is almost full, we need to expand the volume tonight",
        },
    }


async def deliver(url: str, numbers) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for n in numbers:
            response = await http.post(
                "/webhook/telegram", json=update(n), headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
            assert response.status_code == 200, response.text


async def test_updates_delivered_while_temporal_is_down_are_processed_when_it_returns(stack):
    # Its own database and Temporal: no other deployment's drainer can take these.
    async with isolated(stack, "tracker_outage") as own:
        env = {**own.env, "LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET, **FAST_SWEEP}
        try:
            url = stack.start_api("api-tracker-outage", task_queue=QUEUE, **env)
            worker = stack.start_worker("worker-tracker-outage", task_queue=QUEUE, **env)
            own.stop_temporal()

            await deliver(url, range(5))
            async with own.database.connect() as conn:
                assert await conn.scalar(text("SELECT count(*) FROM telegram_update")) == 5

            own.start_temporal()
            if not worker.alive:  # a worker that gave up during the outage is replaced, as `make worker` would
                stack.start_worker("worker-tracker-outage-2", task_queue=QUEUE, **env)

            async def all_scored(count: int):
                async with own.database.connect() as conn:
                    return await conn.scalar(text("SELECT count(importance_score) FROM message")) == count

            kept = "the updates kept during the outage to be saved and scored"
            await eventually(lambda: all_scored(5), kept, within=90)
            await deliver(url, range(5, 8))
            await eventually(lambda: all_scored(8), "updates after the outage to be saved and scored", within=60)
            async with own.database.connect() as conn:
                assert await conn.scalar(text("SELECT count(*) FROM telegram_update WHERE saved_at IS NULL")) == 0
                assert await conn.scalar(text("SELECT count(*) FROM message")) == 8
            # The inbox sweep runs on its schedule and finds the drainer running.
            client = await connect(Settings(temporal_address=f"{ps.HOST}:{own.port}"))
            sweep = await eventually(lambda: completed_sweep(client), "an inbox sweep to complete", within=30)
            swept = await client.get_workflow_handle_for(
                ReconcileTrackerInboxWorkflow.run, sweep.id, run_id=sweep.run_id
            ).result()
            drainers = client.list_workflows("WorkflowType = 'TrackerInbox' AND ExecutionStatus = 'Running'")
            assert swept.drainer_run in {d.run_id async for d in drainers}
            if os.environ.get("LONGRUN_RECORD_HISTORIES"):
                await record(client, sweep.id, "ReconcileTrackerInbox-sweep")
        finally:
            stack.stop_named("api-tracker-outage", "worker-tracker-outage", "worker-tracker-outage-2")


async def completed_sweep(client):
    async for sweep in client.list_workflows(
        "WorkflowType = 'ReconcileTrackerInbox' AND ExecutionStatus = 'Completed'"
    ):
        return sweep
    return None
