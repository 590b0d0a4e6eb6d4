"""LONGRUN_LOG_FORMAT=json: the API's and the worker's own lines, uvicorn's request lines among them, are JSON objects a
log shipper indexes, with secrets still redacted (the job's fields as keys: tests/workflows/test_log_context.py)."""

import json

import httpx

from devstack.clients import eventually
from tests.support.deployment import deployment


def json_lines(text: str) -> list[dict]:
    # Not every line is Python logging's: the Temporal SDK's core logs its warnings in its own format.
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_the_api_and_the_worker_log_json_lines_when_asked(stack, admin):
    secret = "a-token-that-must-not-be-logged"
    async with deployment(stack, admin, "json-logs", "longrun-json-logs", LONGRUN_LOG_FORMAT="json") as api:
        async with httpx.AsyncClient(base_url=api.url) as http:
            await http.get("/api/v1/health", params={"token": secret})

        async def access_line() -> dict | None:
            lines = json_lines((stack.logs / "api-json-logs.log").read_text(errors="replace"))
            ours = (line for line in lines if line["logger"] == "uvicorn.access" and "?token=" in line["message"])
            return next(ours, None)

        line = await eventually(access_line, "the API to log the request as JSON")
    assert "/api/v1/health?token=<redacted>" in line["message"] and secret not in line["message"]
    assert line["level"] == "INFO" and line["time"]
    worker = json_lines((stack.logs / "worker-json-logs.log").read_text(errors="replace"))
    assert any(line["logger"] == "longrun.worker" and "polling" in line["message"] for line in worker), worker[:5]
    text_lines = [line for line in (stack.logs / "api-json-logs.log").read_text().splitlines() if '"GET ' in line]
    assert all(line.startswith("{") for line in text_lines), "a request line in text"
