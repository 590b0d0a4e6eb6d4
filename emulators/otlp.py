"""OTLP/HTTP traces collector emulator: `POST /v1/traces` takes what an OpenTelemetry exporter sends (protobuf
`ExportTraceServiceRequest`, gzipped or not) and keeps the spans, so a test can see what a process traced.

Control (besides the shared fault routes): ``GET /_emulator/otlp/spans`` answers every span kept, oldest first, as
``{"name", "trace_id", "span_id", "parent_span_id", "service", "attributes"}`` (ids in hex);
``POST /_emulator/reset`` forgets them.
"""

import gzip
from typing import Any

from fastapi import Request, Response
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from emulators import serve
from emulators.faults import EmulatorApp

PROTOBUF = "application/x-protobuf"


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def spans_of(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    found = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    {
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "service": resource.get("service.name"),
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                    }
                )
    return found


def create_app() -> EmulatorApp:
    app = EmulatorApp(title="OTLP traces collector emulator")
    kept: list[dict[str, Any]] = []
    app.on_reset(kept.clear)
    app.add_stats("otlp", lambda: {"spans": len(kept)})

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            export = ExportTraceServiceRequest.FromString(body)
        except DecodeError:
            return Response("not an ExportTraceServiceRequest", status_code=400)
        kept.extend(spans_of(export))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)

    @app.get("/_emulator/otlp/spans")
    async def spans() -> list[dict[str, Any]]:
        return kept

    return app


if __name__ == "__main__":
    serve.run(create_app, description="OTLP/HTTP traces collector emulator", default_port=4318)
