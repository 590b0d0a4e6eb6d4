"""deploy/: the Grafana dashboard and the Prometheus alert rules query only metrics a real API and a real worker export,
and the Temporal SDK's metrics keep the names and units Temporal's published dashboards query."""

import json
import re
import uuid
from datetime import timedelta

import httpx
import pytest
import yaml
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from devstack import processes as ps
from runtime.metrics import exposition
from settings import ROOT
from tests.support.deployment import deployment
from tests.support.emulators import clean_emulator
from tests.support.news import discover_failing_second_batch_once, make_sources

DASHBOARD = ROOT / "deploy" / "grafana" / "longrun.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

# Every series Temporal's published Grafana dashboard for Core-based SDKs (Python's among them) queries
# (temporalio/dashboards, sdk/temporal-core-sdks-otel.json, as of September 2025).
PUBLISHED_SDK_DASHBOARD = {
    "temporal_request", "temporal_request_failure", "temporal_request_latency_bucket",
    "temporal_long_request_failure", "temporal_long_request_latency_bucket",
    "temporal_workflow_completed", "temporal_workflow_failed", "temporal_workflow_endtoend_latency_bucket",
    "temporal_workflow_task_queue_poll_succeed", "temporal_workflow_task_queue_poll_empty",
    "temporal_workflow_task_schedule_to_start_latency_bucket", "temporal_workflow_task_execution_failed",
    "temporal_workflow_task_execution_latency_bucket", "temporal_workflow_task_replay_latency_bucket",
    "temporal_activity_schedule_to_start_latency_count", "temporal_activity_schedule_to_start_latency_bucket",
    "temporal_activity_execution_failed", "temporal_activity_execution_latency_bucket",
    "temporal_activity_poll_no_task", "temporal_worker_task_slots_available", "temporal_worker_task_slots_used",
    "temporal_sticky_cache_size", "temporal_sticky_cache_total_forced_eviction", "temporal_sticky_cache_hit",
    "temporal_sticky_cache_miss",
}  # fmt: skip
# Of those, the ones a few minutes of ordinary work need not produce: a long poll that times out empty (after a
# minute), a long poll that fails, a workflow task that fails (a bug), a replay, a sticky cache under pressure.
RARE = {
    "temporal_workflow_task_queue_poll_empty", "temporal_activity_poll_no_task", "temporal_long_request_failure",
    "temporal_workflow_task_execution_failed", "temporal_workflow_task_replay_latency_bucket",
    "temporal_sticky_cache_total_forced_eviction", "temporal_sticky_cache_miss",
}  # fmt: skip

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", re.MULTILINE)
_OUR_NAME = re.compile(r"\b(?:temporal|longrun)_[a-z0-9_]+")


def names(text: str) -> set[str]:
    return set(_SAMPLE.findall(text))


def queried(expr: str) -> set[str]:
    return set(_OUR_NAME.findall(expr))


def dashboard_exprs() -> list[str]:
    def targets(panels: list[dict]):
        for panel in panels:
            yield from targets(panel.get("panels", []))
            yield from (target["expr"] for target in panel.get("targets", []))

    dashboard = json.loads(DASHBOARD.read_text())
    variables = [v["definition"] for v in dashboard["templating"]["list"] if v.get("definition")]
    return list(targets(dashboard["panels"])) + variables


def alert_exprs() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


@activity.defn(name="monitoring.fails_once")
async def fails_once() -> None:
    if activity.info().attempt == 1:
        raise ApplicationError("an outside service's passing fault, for the metric")


@workflow.defn(name="MonitoringRetriesThenFails")
class RetriesThenFails:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            fails_once,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=10)),
        )
        raise ApplicationError("a job that fails, for the metric", non_retryable=True)


class Exported:
    """What Prometheus would scrape: the API's /metrics, a worker's, and this process's (a worker of its own)."""

    def __init__(self, api: str, worker: str, here: str) -> None:
        self.api, self.worker, self.here = api, worker, here
        self.all = names(api) | names(worker) | names(here)


@pytest.fixture(scope="module")
async def exported(stack, admin, temporal: Client) -> Exported:
    port = ps.free_port()
    env = {"LONGRUN_WORKER_METRICS_PORT": str(port)}
    async with deployment(stack, admin, "monitoring", "longrun-monitoring", **env) as api:
        # A real job (whose LLM call fails once): activity latencies, schedule-to-start, slots, the sticky cache...
        async for llm in clean_emulator(stack.openai_url):
            await discover_failing_second_batch_once(api, llm, await make_sources(admin, stack, 1, items=12))
        async with httpx.AsyncClient() as scraper:
            from_api = (await scraper.get(f"{api.url}/metrics")).text
            from_worker = (await scraper.get(f"http://{ps.HOST}:{port}/metrics")).text

    # A retried activity, a failed job and a failed call to Temporal, which no seed job makes on demand: from a worker
    # in this process, on the same SDK runtime (runtime/metrics.py) as every Longrun process.
    task_queue = f"monitoring-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        temporal,
        task_queue=task_queue,
        workflows=[RetriesThenFails],
        activities=[fails_once],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        with pytest.raises(WorkflowFailureError):
            await temporal.execute_workflow(
                RetriesThenFails.run, id=task_queue, task_queue=task_queue, execution_timeout=timedelta(seconds=60)
            )
    with pytest.raises(RPCError):
        await temporal.get_workflow_handle(f"no-such-job-{uuid.uuid4()}").describe()
    return Exported(from_api, from_worker, exposition().decode())


def test_every_metric_the_dashboard_and_the_alerts_query_is_exported(exported: Exported):
    for source, exprs in (("deploy/grafana/longrun.json", dashboard_exprs()), ("alerts.yml", alert_exprs())):
        asked = set().union(*(queried(expr) for expr in exprs))
        assert asked, f"{source} queries nothing"
        missing = asked - exported.all
        assert not missing, f"{source} queries metrics no Longrun process exports: {sorted(missing)}"


def test_the_alerts_cover_failing_jobs_retries_queue_latency_and_slots():
    asked = set().union(*(queried(expr) for expr in alert_exprs()))
    assert {
        "temporal_workflow_failed",
        "temporal_activity_execution_failed",
        "temporal_activity_schedule_to_start_latency_bucket",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
        "temporal_worker_task_slots_available",
    } <= asked


def test_temporals_published_sdk_dashboard_finds_our_metrics(exported: Exported):
    missing = PUBLISHED_SDK_DASHBOARD - RARE - exported.all
    assert not missing, f"the published dashboard's queries find nothing for {sorted(missing)}"
    renamed = {name for name in PUBLISHED_SDK_DASHBOARD if f"{name}_total" in exported.all}
    assert not renamed, f"exported with `_total`, which the published queries do not name: {sorted(renamed)}"


def test_the_sdks_durations_are_in_milliseconds_as_the_published_dashboard_shows_them(exported: Exported):
    bounds = re.findall(r'^temporal_activity_execution_latency_bucket\{[^}]*le="([^"]+)"', exported.worker, re.M)
    assert bounds, "the worker exports no activity latency histogram"
    assert max(float(b) for b in bounds if b != "+Inf") >= 1000, f"buckets in seconds, not ms: {sorted(set(bounds))}"


def test_our_own_metrics_keep_prometheus_conventions(exported: Exported):
    assert "longrun_job_starts_total" in exported.api
    assert "longrun_http_request_duration_seconds_bucket" in exported.api
