"""Schemathesis over the API's OpenAPI, the short form of `python -m bench fuzz`: no generated request gets a 5xx,
and every 4xx says what was wrong. The API has its own database, Temporal and worker: the fuzz creates users,
deletes rows and starts jobs, which end with its Temporal."""

import asyncio

from bench.fuzz import WEBHOOK_SECRET, run_fuzz, sign_in_roles
from tests.support.deployment import deployment, isolated


async def test_generated_requests_get_no_server_error_and_every_refusal_says_why(stack, admin):
    async with (
        isolated(stack, "fuzz") as own,
        deployment(
            stack, admin, "fuzz", "longrun-fuzz", LONGRUN_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET, **own.env
        ) as api,
    ):
        tokens = await sign_in_roles(api.url)
        # Hypothesis and requests are synchronous: off the test's event loop.
        report = await asyncio.to_thread(run_fuzz, api.url, tokens, 2)
    findings = "\n".join(f"{f.operation} as {f.role}: {f.status} {f.why}\n  {f.curl}" for f in report.findings)
    assert not report.findings, f"{len(report.findings)} bad answers of {report.requests}:\n{findings}"
    assert report.operations >= 100 and report.cases >= 300, (report.operations, report.cases)
    assert report.statuses[422] > 0 and report.statuses[200] > 0, "both invalid and valid requests were made"
