"""The smallest trace collector: receives OTLP/HTTP spans and appends them to a file.

`make dev` and the tests run it so that a developer (or a test) can read a trace
without installing a tracing backend: `python -m tools trace <trace-id>` prints one.
No trace viewer installs from the package registries this project uses, so this
stands in for one. Production sends OTLP to a real collector instead
(`OTEL_EXPORTER_OTLP_ENDPOINT`).

Serve: `uvicorn tools.collector:app` with `TRACES_FILE` naming the JSON-lines file.
"""

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_write_lock = threading.Lock()


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind in ("kvlist_value", "bytes_value", None):
        return str(value)
    return getattr(value, kind)


def _attributes(pairs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def spans_of(request: ExportTraceServiceRequest) -> Iterator[dict[str, Any]]:
    """Each span of an OTLP export request, flattened, with its service name."""
    for resource_spans in request.resource_spans:
        service = _attributes(resource_spans.resource.attributes).get("service.name", "?")
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": KINDS.get(span.kind, str(span.kind)),
                    "service": service,
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "status": span.status.code,
                    "attributes": _attributes(span.attributes),
                    "links": [
                        {"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
                        for link in span.links
                    ],
                }


def traces_file() -> Path:
    return Path(os.environ.get("TRACES_FILE", ".data/traces/spans.jsonl"))


async def export_traces(request: Request) -> Response:
    if "json" in request.headers.get("content-type", ""):
        return Response("send OTLP protobuf (application/x-protobuf)", status_code=415)
    export = ExportTraceServiceRequest()
    try:
        export.ParseFromString(await request.body())
    except DecodeError:
        return Response("not an OTLP trace export", status_code=400)
    lines = "".join(json.dumps(span) + "\n" for span in spans_of(export))
    path = traces_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _write_lock, path.open("a") as output:
        output.write(lines)
    return Response(
        ExportTraceServiceResponse().SerializeToString(),
        media_type="application/x-protobuf",
    )


async def health(request: Request) -> Response:
    return Response("ok")


app = Starlette(
    routes=[
        Route("/v1/traces", export_traces, methods=["POST"]),
        Route("/healthz", health),
    ]
)


def _spans_mentioning(path: Path, trace_id: str) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open() as lines:
        for line in lines:
            if trace_id in line:
                yield json.loads(line)


def read_trace(path: Path, trace_id: str) -> list[dict[str, Any]]:
    """The spans of one trace, from a collector's file."""
    return [span for span in _spans_mentioning(path, trace_id) if span["trace_id"] == trace_id]


def linked_to(path: Path, trace_id: str) -> list[dict[str, Any]]:
    """Spans of other traces linked to this one (live-update deliveries, say)."""
    return [
        span
        for span in _spans_mentioning(path, trace_id)
        if span["trace_id"] != trace_id
        and any(link["trace_id"] == trace_id for link in span["links"])
    ]


def render_tree(spans: list[dict[str, Any]]) -> list[str]:
    """The spans as an indented tree, with start offsets and durations in milliseconds."""
    if not spans:
        return []
    by_id = {span["span_id"]: span for span in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for span in sorted(spans, key=lambda s: s["start_ns"]):
        parent = span["parent_span_id"]
        if parent and parent in by_id:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    origin = min(span["start_ns"] for span in spans)
    lines: list[str] = []

    def walk(span: dict[str, Any], depth: int) -> None:
        offset = (span["start_ns"] - origin) / 1e6
        duration = (span["end_ns"] - span["start_ns"]) / 1e6
        missing = " (parent not collected)" if span["parent_span_id"] and depth == 0 else ""
        failed = " ERROR" if span["status"] == 2 else ""
        lines.append(
            f"{offset:9.2f} ms {duration:9.2f} ms  {'  ' * depth}{span['service']}: "
            f"{span['name']} [{span['kind']}]{failed}{missing}"
        )
        for child in children.get(span["span_id"], []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return lines
