"""The README's "Adding a long operation" example runs: its endpoint starts its workflow, a worker runs its
activity, and the job's progress and result come back through the jobs API like any other job's."""

import asyncio
import uuid

import uvicorn
from temporalio.worker import Worker

from api.app import create_app
from devstack import processes as ps
from devstack.clients import Api, eventually
from examples import word_count_job
from runtime.temporal import connect
from settings import Settings
from worker import SANDBOX
from workflows.start import job_queue


async def test_the_example_job_runs_end_to_end(stack, admin):
    env = stack.env()
    settings = Settings(
        database_url=stack.pg.database_url,
        temporal_address=stack.temporal_address,
        task_queue=f"example-{uuid.uuid4().hex[:6]}",
        jwt_secret=env["LONGRUN_JWT_SECRET"],
        data_dir=stack.data_dir,
        _env_file=None,
    )
    app = create_app(settings)
    for router in word_count_job.APPLICATION.routers():
        app.include_router(router)
    port = ps.free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=ps.HOST, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    client = await connect(settings)
    worker = Worker(
        client,
        task_queue=job_queue(settings, word_count_job.WordCountWorkflow),
        workflows=list(word_count_job.APPLICATION.workflows),
        activities=word_count_job.APPLICATION.activities(None),
        workflow_runner=SANDBOX,
    )
    api = Api(f"http://{ps.HOST}:{port}", admin.token)
    try:
        async with worker:
            await eventually(started_serving(server), "the example's API to serve", within=30, interval=0.01)
            # Three batches of 20: two of three-word texts, one holding a text that fails for good.
            texts = ["one two three"] * 40 + ["!fail here"] + ["four five"] * 19
            started = await api.ok("POST", "/api/v1/examples/word-count", 202, json={"texts": texts, "batch": 20})
            job = await api.wait_job(started["job_id"])
    finally:
        await api.close()
        server.should_exit = True
        await serving
    assert (job["type"], job["status"], job["owner"]) == ("word_count", "completed", "admin")
    assert job["result"]["words"] == 120 and len(job["result"]["failed_batches"]) == 1
    assert (job["processed"], job["succeeded"], job["failed"], job["percent"]) == (60, 40, 20, 100.0)


def started_serving(server: uvicorn.Server):
    async def probe() -> bool:
        return server.started

    return probe
