"""Prometheus /metrics on the API and the worker: HTTP latency by route, job starts by type, rate-limit waits, and the
Temporal SDK's runtime metrics (workflow ends by type, activity latency) beside ours."""

import re

import httpx
from prometheus_client import REGISTRY

from devstack import processes as ps
from runtime.rate_limit import LocalRateLimiter
from tests.support.deployment import deployment
from tests.support.news import discover, make_sources


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample as written. Not prometheus_client's parser, which renames a counter's samples to `<name>_total`:
    the SDK's are exported without it (runtime/metrics.py)."""
    found = []
    for line in text.splitlines():
        if match := re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
            found.append((match[1], labels, float(match[3])))
    return found


def value(found: list, name: str, **labels: str) -> float | None:
    return next((v for n, ls, v in found if n == name and labels.items() <= ls.items()), None)


async def test_the_api_and_the_worker_serve_their_metrics_and_the_sdks(stack, admin):
    port = ps.free_port()
    async with deployment(stack, admin, "metrics", "longrun-metrics", LONGRUN_WORKER_METRICS_PORT=str(port)) as api:
        job_id = await discover(api, await make_sources(admin, stack, 1, items=2))
        await api.wait_job(job_id)
        async with httpx.AsyncClient() as scraper:
            from_api = samples((await scraper.get(f"{api.url}/metrics")).text)
            from_worker = samples((await scraper.get(f"http://{ps.HOST}:{port}/metrics")).text)

    route = {"method": "GET", "route": "/api/v1/jobs/{job_id}", "status": "200"}
    assert value(from_api, "longrun_http_request_duration_seconds_count", **route) >= 1
    assert value(from_api, "longrun_job_starts_total", type="news_discovery") >= 1
    # The SDK's own, under the names Temporal documents (no `_total`): the API's client calls to Temporal.
    assert value(from_api, "temporal_request", operation="StartWorkflowExecution") >= 1

    assert value(from_worker, "temporal_workflow_completed", workflow_type="NewsDiscovery") >= 1
    latency = value(from_worker, "temporal_activity_execution_latency_count", activity_type="news.discover_source")
    assert latency is not None and latency >= 1


async def test_a_rate_limited_request_records_its_wait():
    before = REGISTRY.get_sample_value("longrun_rate_limit_wait_seconds_count") or 0
    limiter = LocalRateLimiter(rate_per_second=50)
    for _ in range(3):
        await limiter.acquire("bot-token")
    assert REGISTRY.get_sample_value("longrun_rate_limit_wait_seconds_count") == before + 3
    assert REGISTRY.get_sample_value("longrun_rate_limit_wait_seconds_sum") > 0, "the later two waited for slots"
