"""One log format for the worker: every line written inside a workflow or an activity names its job and run
(` job=<workflow id> run=<run id>`), whoever wrote it: our code, httpx, pyrogram, openai's retries, the SDK. So the
lines of one job can be found with one grep, and a warning from a library says whose work it was doing.

And for the API: the server's own request lines never carry a token or the codec's key (`redact_server_logs`)."""

import logging
import re

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


# What a request line may carry that must not reach a log file: a socket's `?token=` (older clients still send
# one), the Web UI codec's key in its path, and a bearer token wherever it is echoed.
_SECRETS = (
    (re.compile(r"([?&](?:access_)?token=)[^&\s\"']+", re.IGNORECASE), r"\1<redacted>"),
    (re.compile(r"(/codec/web-ui/)[^/\s\"']+"), r"\1<redacted>"),
    (re.compile(r"(Bearer\s+)[\w.~+/=-]+", re.IGNORECASE), r"\1<redacted>"),
)


def redacted(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments with their secrets replaced. Arguments are rewritten in
    place rather than merged into the message: uvicorn's access formatter unpacks them by position."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redacted(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


# uvicorn's access lines, and its error logger's "WebSocket <path>" lines.
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact_server_logs() -> None:
    """Once per process (the API's app factory calls it): a second filter would only redact again."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())
