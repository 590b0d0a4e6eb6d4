"""OpenTelemetry tracing through the SDK's interceptor: off unless an endpoint is configured; on, one trace runs from
the API's start of a job through the worker's workflow and its activities, exported to a collector over OTLP/HTTP
(the OTLP emulator decodes the real protobuf)."""

from collections import defaultdict

import httpx

from devstack import processes as ps
from devstack.clients import eventually
from runtime.tracing import interceptors
from settings import Settings
from tests.support.deployment import deployment
from tests.support.news import discover, make_sources


def test_tracing_is_off_unless_an_endpoint_is_configured():
    assert interceptors(Settings(_env_file=None, otel_endpoint="")) == []


async def test_a_job_is_one_trace_from_the_api_through_its_activities(stack, admin):
    port = ps.free_port()
    collector = ps.start_emulator("otlp", "emulators.otlp", port, None, stack.logs)
    stack.procs.append(collector)
    env = {
        "LONGRUN_OTEL_ENDPOINT": f"http://{ps.HOST}:{port}/v1/traces",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export every 200 ms rather than every 5 s
    }
    try:
        async with deployment(stack, admin, "tracing", "longrun-tracing", **env) as api:
            job_id = await discover(api, await make_sources(admin, stack, 1, items=2))
            await api.wait_job(job_id)

            async def traced() -> dict[str, set[str]]:
                async with httpx.AsyncClient() as http:
                    spans = (await http.get(f"http://{ps.HOST}:{port}/_emulator/otlp/spans")).json()
                by_trace = defaultdict(set)
                for span in spans:
                    by_trace[span["trace_id"]].add(span["name"])
                whole = {
                    "StartWorkflow:NewsDiscovery",
                    "RunWorkflow:NewsDiscovery",
                    "StartActivity:news.discover_source",
                    "RunActivity:news.discover_source",
                }
                return next((names for names in by_trace.values() if whole <= names), None)

            await eventually(traced, "the job's spans in one trace at the collector", within=30)
    finally:
        stack.stop_named("otlp")
