"""One log format for the worker: every line written inside a workflow or an activity names its job and run
(` job=<workflow id> run=<run id>`), whoever wrote it: our code, httpx, pyrogram, openai's retries, the SDK. So the
lines of one job can be found with one grep, and a warning from a library says whose work it was doing.

And for the API: the server's own request lines never carry a token or the codec's key (`redact_server_logs`).

LONGRUN_LOG_FORMAT=json writes one JSON object a line instead, for a log shipper (Loki, Elasticsearch, CloudWatch)
to index without a parsing rule: `time`, `level`, `logger`, `message`, and `job`, `run`, `activity` as keys of their
own, so "every line of job X" is a field query rather than a grep."""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

FORMAT = "%(asctime)s %(name)s %(levelname)s%(job)s %(message)s"


def job_fields() -> dict[str, str | None]:
    if activity.in_activity():
        info = activity.info()
        return {"job": info.workflow_id, "run": info.workflow_run_id, "activity": info.activity_type}
    if workflow.in_workflow():
        info = workflow.info()
        return {"job": info.workflow_id, "run": info.run_id}
    return {}


class JobContext(logging.Filter):
    """Adds `job` (text) and `job_fields` (JSON) to every record: on a handler, so records of every logger pass
    through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = job_fields()
        record.__dict__.update(job_fields=fields, job="".join(f" {key}={value}" for key, value in fields.items()))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line. The job's fields come from JobContext; a record that passed none (a handler without
    the filter) still formats."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "job_fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(json_lines: bool) -> logging.Formatter:
    return JsonFormatter() if json_lines else logging.Formatter(FORMAT)


def handler(stream=None, json_lines: bool = False) -> logging.Handler:
    made = logging.StreamHandler(stream)
    made.addFilter(JobContext())
    made.setFormatter(formatter(json_lines))
    return made


def json_wanted() -> bool:
    # Imported here: a workflow module that imports this one is re-imported in the workflow sandbox, where settings'
    # import-time Path.resolve() is refused.
    from settings import get_settings

    return get_settings().log_format == "json"


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, handlers=[handler(json_lines=json_wanted())])


def server_log_config() -> dict[str, Any] | None:
    """uvicorn's logging for `python -m api`: None (uvicorn's own text lines) unless LONGRUN_LOG_FORMAT=json, then
    its lines and every other logger's as JSON. The root logger stays at WARNING, as it is under uvicorn's default
    (Python's last-resort handler), so JSON changes the format and nothing else."""
    if not json_wanted():
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"job": {"()": JobContext}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["job"],
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["json"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["json"], "level": "WARNING"},
    }


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
