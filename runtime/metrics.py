"""Prometheus metrics, ours and the Temporal SDK's runtime metrics, on one /metrics per process: the API serves it
at GET /metrics, a worker on LONGRUN_WORKER_METRICS_PORT.

The SDK exports its own metrics (workflow completions, failures and cancels by workflow type, activity execution
and schedule-to-start latency by activity type, task slots, poll errors...) through a Prometheus endpoint of its
runtime; that endpoint listens on a loopback port of its own and `/metrics` serves its families beside ours.
"""

from __future__ import annotations

import logging
import socket
import urllib.request
from collections.abc import Iterator
from functools import lru_cache

from prometheus_client import REGISTRY, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

log = logging.getLogger("longrun.metrics")

JOB_STARTS = Counter("longrun_job_starts", "Jobs started (or found already running), by job type", ["type"])
RATE_LIMIT_WAIT = Histogram(
    "longrun_rate_limit_wait_seconds",
    "How long a request to a rate-limited service (MAX) waited for its slot",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
HTTP_LATENCY = Histogram(
    "longrun_http_request_duration_seconds",
    "API requests by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class SdkMetrics(Collector):
    """The SDK runtime's own Prometheus families, read from its loopback endpoint at each scrape."""

    def __init__(self, url: str) -> None:
        self.url = url

    def collect(self) -> Iterator[Metric]:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:
                text = response.read().decode()
        except OSError as exc:
            log.warning("Temporal SDK metrics unreadable at %s: %s", self.url, exc)
            return
        yield from text_string_to_metric_families(text)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@lru_cache(maxsize=1)
def temporal_runtime() -> Runtime:
    """This process's one SDK runtime, exporting its metrics; its families join this process's /metrics."""
    address = f"127.0.0.1:{_free_loopback_port()}"
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=address, counters_total_suffix=True, durations_as_seconds=True)
        )
    )
    REGISTRY.register(SdkMetrics(f"http://{address}/metrics"))
    return runtime


def exposition() -> bytes:
    """The text of /metrics. Blocking (it reads the SDK's endpoint): call it off the event loop."""
    return generate_latest(REGISTRY)


def serve(port: int, host: str = "0.0.0.0") -> None:
    """A worker's /metrics, from a thread of its own; a port already taken (a second worker on this host) is said
    and skipped."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("no /metrics on port %s: %s", port, exc)
        return
    log.info("metrics at http://%s:%s/metrics", host, port)
