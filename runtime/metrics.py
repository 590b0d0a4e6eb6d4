"""Prometheus metrics, ours and the Temporal SDK's runtime metrics, on one /metrics per process: the API serves it
at GET /metrics, a worker on LONGRUN_WORKER_METRICS_PORT.

The SDK exports its own metrics (workflow completions, failures and cancels by workflow type, activity execution
and schedule-to-start latency by activity type, task slots, poll errors...) through a Prometheus endpoint of its
runtime; that endpoint listens on a loopback port of its own and `/metrics` serves its text beside ours.

The SDK's families keep the names and units Temporal documents and its published Grafana dashboard and alerts query
(temporalio/dashboards, sdk/temporal-core-sdks-otel.json): counters without `_total` (`temporal_request`,
`temporal_workflow_failed`), durations in milliseconds (`temporal_activity_schedule_to_start_latency_bucket{le="50"}`).
So their text is passed on verbatim: re-parsed by prometheus_client it would come out with `_total` added to every
counter. Ours (`longrun_*`) follow prometheus_client's conventions: `_total` counters, seconds.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
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


def sdk_text(url: str) -> bytes:
    """The SDK runtime's own families, read from its loopback endpoint at each scrape; nothing if it is unreadable."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read()
    except OSError as exc:
        log.warning("Temporal SDK metrics unreadable at %s: %s", url, exc)
        return b""


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_sdk_urls: list[str] = []


@lru_cache(maxsize=1)
def temporal_runtime() -> Runtime:
    """This process's one SDK runtime, exporting its metrics; its text joins this process's /metrics."""
    address = f"127.0.0.1:{_free_loopback_port()}"
    # The SDK's defaults on purpose (no `_total`, milliseconds): the names Temporal's dashboards query.
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    _sdk_urls.append(f"http://{address}/metrics")
    return runtime


def exposition() -> bytes:
    """The text of /metrics. Blocking (it reads the SDK's endpoint): call it off the event loop."""
    return generate_latest(REGISTRY) + b"".join(sdk_text(url) for url in _sdk_urls)


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = exposition()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # a scrape every 15 s is no news
        pass


def serve(port: int, host: str = "0.0.0.0") -> None:
    """A worker's /metrics (every path answers it, as prometheus_client's own server did), from a thread of its own;
    a port already taken (a second worker on this host) is said and skipped."""
    try:
        server = ThreadingHTTPServer((host, port), _MetricsHandler)
    except OSError as exc:
        log.warning("no /metrics on port %s: %s", port, exc)
        return
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics at http://%s:%s/metrics", host, port)
