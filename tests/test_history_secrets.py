"""What Temporal keeps holds no secret: the raw histories of every job type the suite ran hold only encrypted
payloads (a planted text is nowhere in clear), and even decrypted they hold no credential (MAX bot tokens, the 1C
password, the bot token and webhook secret, API keys): activities read those from settings and rows, never from
a workflow's input.

It reads the histories the whole suite made, so it runs last (tests/conftest.py puts it there)."""

import base64
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from runtime.payload_codec import ENCODING, EncryptionCodec, payload_keys
from settings import Settings
from tests.support.news import discover, make_sources
from worker import WORKFLOWS

HISTORIES_PER_TYPE = 25
# Registered only so that runs from before can finish; nothing starts them any more (workflows/tracker.py).
RETIRED = {"TrackerUpdate"}


def clear_by_design(path: tuple[str, ...]) -> bool:
    """Search attributes stay readable to be searched (indexed, and they hold no content). SDK markers keep the
    SDK's own bookkeeping in clear: a local activity's sequence, type and times beside its encrypted `result`, a
    `workflow.patched` marker's patch id. The tracing interceptor's header is a W3C traceparent (ids only)."""
    searchable = "searchAttributes" in path or "upsertWorkflowSearchAttributesEventAttributes" in path
    bookkeeping = path[-3:-1] == ("markerRecordedEventAttributes", "details") and path[-1] != "result"
    trace_context = path[-2:] == ("fields", "_tracer-data") and "header" in path
    return searchable or bookkeeping or trace_context


def payloads_in(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Payload]]:
    """Every payload in a history's JSON (proto JSON: `{"metadata": {...}, "data": "<base64>"}`) that the codec
    encodes."""
    if clear_by_design(path):
        return
    if isinstance(node, dict):
        if "data" in node and "metadata" in node:
            metadata = {key: base64.b64decode(value) for key, value in node["metadata"].items()}
            yield path, Payload(metadata=metadata, data=base64.b64decode(node["data"]))
            return
        for key, value in node.items():
            yield from payloads_in(value, (*path, key))
    elif isinstance(node, list):
        for item in node:
            yield from payloads_in(item, path)


async def credentials(stack, database) -> dict[str, str]:
    """Every credential the stack's jobs could have been handed, by what it is."""
    env = stack.env()
    settings = Settings(_env_file=None)  # the stack's workers read the same defaults and environment
    onec = f"{settings.onec_user}:{settings.onec_password.get_secret_value()}"
    found = {
        "the 1C login (user:password)": onec,
        "the 1C login, as sent (Basic)": base64.b64encode(onec.encode()).decode(),
        "the Telegram bot token": settings.telegram_bot_token.get_secret_value(),
        "the JWT secret": env["LONGRUN_JWT_SECRET"],
        "the payload key": env.get("LONGRUN_PAYLOAD_KEYS", "").partition(":")[2],
    }
    async with database.connect() as db:
        for (token,) in await db.execute(text("SELECT DISTINCT bot_token FROM max_channel")):
            found[f"a MAX bot token ({token[:4]}…)"] = token
    return {what: value for what, value in found.items() if value}


async def test_histories_hold_no_secret_in_clear_and_no_credential_at_all(
    request, stack, admin, temporal: Client, database, llm
):
    # A text that does enter history: a cancel's reason is the cancel signal's payload.
    planted = f"planted-secret-{uuid.uuid4().hex}"
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=500)
    job_id = await discover(admin, await make_sources(admin, stack, 2), max_parallel=1)
    await admin.ok("POST", f"/api/v1/jobs/{job_id}/cancel", 202, json={"reason": planted})
    await admin.wait_job(job_id)

    codec = EncryptionCodec(payload_keys(Settings(_env_file=None)))
    secrets = await credentials(stack, database)
    per_type: dict[str, int] = defaultdict(int)
    counts = {"encrypted": 0, "in clear": 0}
    planted_seen = 0
    clear: list[str] = []
    leaks: list[str] = []
    async for execution in temporal.list_workflows():
        if per_type[execution.workflow_type] >= HISTORIES_PER_TYPE:
            continue
        per_type[execution.workflow_type] += 1
        history = await temporal.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        found = list(payloads_in(json.loads(history.to_json())))
        raw = [payload for _, payload in found]
        for path, payload in found:
            encrypted = payload.metadata.get("encoding") == ENCODING
            counts["encrypted" if encrypted else "in clear"] += 1
            if not encrypted:
                clear.append(f"{execution.workflow_type} {'.'.join(path[-3:])}: {payload.data[:60]!r}")
            if planted.encode() in payload.data:
                leaks.append(f"{execution.workflow_type} {execution.id}: the planted text, in clear")
        for payload in await codec.decode(raw):
            planted_seen += planted.encode() in payload.data
            for what, value in secrets.items():
                if value.encode() in payload.data:
                    leaks.append(f"{execution.workflow_type} {execution.id}: {what}, in a payload")
    assert not leaks, "\n".join(leaks)
    assert counts["in clear"] == 0 and counts["encrypted"] > 0, (counts, clear[:10])
    assert planted_seen >= 1, "the planted text was not found decrypted: the scan read nothing that matters"

    expected = {workflow.__temporal_workflow_definition.name for workflow in WORKFLOWS} - RETIRED
    if request.session.testscollected < 100 and not expected <= set(per_type):
        pytest.skip(f"run alone: only the job types this run made were read ({sorted(per_type)})")
    assert expected <= set(per_type), f"job types the suite never ran here: {sorted(expected - set(per_type))}"
    print(json.dumps({"histories": sum(per_type.values()), **counts, "types": len(per_type)}))
