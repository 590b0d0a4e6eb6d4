"""A worker and an API started while Temporal is away wait for it, say so, and go on once it is there."""

import asyncio

from devstack import processes as ps
from devstack.clients import Api, eventually
from devstack.stack import ADMIN_PASSWORD
from runtime.temporal import connect
from settings import Settings
from workflows.base import JobStatus
from workflows.news import DiscoverNewsInput, discovery_job
from workflows.start import start_job

QUEUE = "temporal-late"


async def test_a_worker_started_before_temporal_waits_for_it_then_runs_a_job(stack):
    port = ps.free_port()
    address = f"{ps.HOST}:{port}"
    # Its own database and (later) Temporal: nothing it starts touches another test's rows.
    env = {"LONGRUN_TEMPORAL_ADDRESS": address, "LONGRUN_DATABASE_URL": stack.create_database("temporal_late")}
    worker = stack.start_worker("worker-late", task_queue=QUEUE, wait=False, **env)
    url = stack.start_api("api-late", task_queue=QUEUE, ready=503, **env)
    api = await Api.login(url, "admin", ADMIN_PASSWORD)
    temporal = None
    try:

        def waiting() -> bool:
            worker.check_alive()
            return f"Temporal at {address} unreachable, retrying in" in worker.log_tail(200)

        ps.wait_until(waiting, 60, "the worker to say it waits for Temporal", interval=0.2)
        assert (await api.http.get("/api/v1/jobs")).status_code == 503

        temporal = ps.start_temporal(None, port, None, stack.logs, name="temporal-late")
        await asyncio.to_thread(ps.wait_worker_polling, address, QUEUE, worker.pid, 90, worker)
        client = await connect(Settings(temporal_address=address, task_queue=QUEUE))
        settings = Settings(temporal_address=address, task_queue=QUEUE)
        handle = await start_job(client, settings, discovery_job(DiscoverNewsInput(sources=[]), "admin"))
        result = await asyncio.wait_for(handle.result(), 60)
        assert result.status == JobStatus.completed

        async def listed():
            response = await api.http.get("/api/v1/jobs")
            return response.status_code == 200 and handle.id in {j["job_id"] for j in response.json()["jobs"]}

        await eventually(listed, "the API to reach Temporal and list the job", within=60)
    finally:
        await api.close()
        stack.stop_named("worker-late", "api-late")
        if temporal is not None:
            temporal.stop()
