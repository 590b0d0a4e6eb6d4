"""Every log line written inside a workflow or an activity names its job and run (log_setup.py), whichever logger
wrote it; lines from elsewhere carry nothing extra."""

import io
import json
import logging
import uuid
from datetime import timedelta

from temporalio import activity, workflow

import log_setup


@activity.defn(name="test.log_something")
async def log_something(what: str) -> None:
    logging.getLogger("some.library").warning("library says %s", what)


@workflow.defn(name="TestLogContext")
class LogContextWorkflow:
    @workflow.run
    async def run(self) -> None:
        workflow.logger.warning("workflow says hello")
        await workflow.execute_activity(log_something, "hi", start_to_close_timeout=timedelta(seconds=10))


async def test_lines_from_a_workflow_and_its_activity_name_the_job_and_run(env, run_worker):
    stream = io.StringIO()
    handler = log_setup.handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("elsewhere").warning("outside any job")
        async with run_worker([LogContextWorkflow], [log_something]) as settings:
            job_id = f"log-context-{uuid.uuid4().hex[:8]}"
            handle = await env.client.start_workflow(LogContextWorkflow.run, id=job_id, task_queue=settings.task_queue)
            await handle.result()
    finally:
        root.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    context = f" job={job_id} run={handle.result_run_id}"
    [outside] = [line for line in lines if "outside any job" in line]
    [from_workflow] = [line for line in lines if "workflow says hello" in line]
    [from_activity] = [line for line in lines if "library says hi" in line]
    assert " job=" not in outside
    assert f"WARNING{context} " in from_workflow
    assert f"some.library WARNING{context} activity=test.log_something library says hi" in from_activity


async def test_json_lines_carry_the_job_and_run_as_keys(env, run_worker):
    """LONGRUN_LOG_FORMAT=json: the same fields, as keys a log shipper indexes."""
    stream = io.StringIO()
    handler = log_setup.handler(stream, json_lines=True)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("elsewhere").warning("outside any job")
        async with run_worker([LogContextWorkflow], [log_something]) as settings:
            job_id = f"log-json-{uuid.uuid4().hex[:8]}"
            handle = await env.client.start_workflow(LogContextWorkflow.run, id=job_id, task_queue=settings.task_queue)
            await handle.result()
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [outside] = [line for line in lines if line["message"] == "outside any job"]
    [from_workflow] = [line for line in lines if "workflow says hello" in line["message"]]
    [from_activity] = [line for line in lines if line["message"] == "library says hi"]
    assert "job" not in outside and outside["logger"] == "elsewhere"
    assert (from_workflow["job"], from_workflow["run"]) == (job_id, handle.result_run_id)
    assert from_activity == {
        "time": from_activity["time"],
        "level": "WARNING",
        "logger": "some.library",
        "message": "library says hi",
        "job": job_id,
        "run": handle.result_run_id,
        "activity": "test.log_something",
    }
