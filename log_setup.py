"""One log format for the worker: every line written inside a workflow or an activity names its job and run
(` job=<workflow id> run=<run id>`), whoever wrote it: our code, httpx, pyrogram, openai's retries, the SDK. So the
lines of one job can be found with one grep, and a warning from a library says whose work it was doing."""

import logging

from temporalio import activity, workflow

FORMAT = "%(asctime)s %(name)s %(levelname)s%(job)s %(message)s"


def job_context() -> str:
    if activity.in_activity():
        info = activity.info()
        return f" job={info.workflow_id} run={info.workflow_run_id} activity={info.activity_type}"
    if workflow.in_workflow():
        info = workflow.info()
        return f" job={info.workflow_id} run={info.run_id}"
    return ""


class JobContext(logging.Filter):
    """Adds `job` to every record: on a handler, so records of every logger pass through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job = job_context()
        return True


def handler(stream=None) -> logging.Handler:
    made = logging.StreamHandler(stream)
    made.addFilter(JobContext())
    made.setFormatter(logging.Formatter(FORMAT))
    return made


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, handlers=[handler()])
