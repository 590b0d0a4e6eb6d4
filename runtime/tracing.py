"""OpenTelemetry tracing through the Temporal SDK's interceptor: spans for starting, signalling and querying jobs,
running workflows and activities, linked across processes through Temporal headers. Off unless
LONGRUN_OTEL_ENDPOINT names an OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`)."""

from __future__ import annotations

from functools import lru_cache

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

from settings import Settings


@lru_cache(maxsize=1)
def _provider(endpoint: str, service: str) -> TracerProvider:
    """This process's one tracer provider, exporting in batches (flushed at exit)."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def interceptors(settings: Settings) -> list[TracingInterceptor]:
    """The client interceptors (a worker built on the client uses them too): none when tracing is off."""
    if not settings.otel_endpoint:
        return []
    return [TracingInterceptor(_provider(settings.otel_endpoint, settings.otel_service_name).get_tracer("longrun"))]
