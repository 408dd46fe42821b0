"""Tracing with OpenTelemetry: one trace from the router through the subgraphs, their SQL
and Redis calls, across the outbox and the streams to the consumers.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set: then no SDK is installed, nothing is
instrumented, and the helpers below return the invalid span without touching the
context (even the API's no-op tracer copies the context for each span: a profile put
that at 5 % of a subgraph's CPU per request). When on, the maintained instrumentations trace FastAPI
(HTTP and WebSocket), asyncpg, redis-py and httpx; `OperationObserver` adds one span
per GraphQL operation; the event bus and pub/sub carry a W3C `traceparent` so the
work they cause later is parented to (consumers) or linked from (live updates) the
request that caused it.

Sampling: a trace starts at an incoming request (a SERVER span) or a delivered
message (a CONSUMER span), with probability `OTEL_TRACES_SAMPLER_ARG`; everything
else follows its parent. Background polling (the relay's SELECT, consumers'
XREADGROUP) has no parent and is never a trace of its own.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind

TRACEPARENT = "traceparent"
tracer = trace.get_tracer("meetinity")
_tracing = False


def configure_tracing(
    service: str, app: FastAPI, endpoint: str | None, sampling_ratio: float
) -> Any | None:
    """Installs the SDK and the instrumentations; None (and nothing done) without endpoint."""
    global _tracing
    if not endpoint:
        return None
    _tracing = True
    # Imported only when tracing is on: the SDK and exporters cost start-up time.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(root=_requests_and_messages(sampling_ratio)),
    )
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="/healthz,/readyz",
        # One span per WebSocket session, not one per frame.
        exclude_spans=["receive", "send"],
    )
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    return provider


def _requests_and_messages(ratio: float) -> Any:
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        Sampler,
        SamplingResult,
        TraceIdRatioBased,
    )

    class RequestsAndMessages(Sampler):
        """Root spans: incoming requests and delivered messages, by ratio; nothing else."""

        def __init__(self) -> None:
            self._ratio = TraceIdRatioBased(ratio)

        def should_sample(
            self,
            parent_context: otel_context.Context | None,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Sequence[Link] | None = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            if kind not in (SpanKind.SERVER, SpanKind.CONSUMER):
                return SamplingResult(Decision.DROP)
            return self._ratio.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"RequestsAndMessages({ratio})"

    return RequestsAndMessages()


def current_traceparent() -> str:
    """The active span's W3C `traceparent`, or "" when nothing is traced."""
    if not _tracing:
        return ""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT, "")


def _context_of(traceparent: str) -> otel_context.Context:
    # From a fresh context: what the caller had running (a polling loop) is not a parent.
    return propagate.extract({TRACEPARENT: traceparent} if traceparent else {}, context=None)


def _link_to(traceparent: str) -> list[Link]:
    span_context = trace.get_current_span(_context_of(traceparent)).get_span_context()
    return [Link(span_context)] if span_context.is_valid else []


@contextmanager
def operation_span(name: str) -> Iterator[Span]:
    """The span of a GraphQL operation (renamed once its name and type are known)."""
    if not _tracing:
        yield INVALID_SPAN
        return
    with tracer.start_as_current_span(name) as span:
        yield span


@contextmanager
def consuming(name: str, traceparent: str, attributes: Mapping[str, Any]) -> Iterator[Span]:
    """The span of work a message caused (applying a domain event): a child of the span
    that produced it, so it joins that trace, and linked to it, as messaging spans are."""
    if not _tracing:
        yield INVALID_SPAN
        return
    with tracer.start_as_current_span(
        name,
        context=_context_of(traceparent),
        kind=SpanKind.CONSUMER,
        links=_link_to(traceparent),
        attributes=attributes,
    ) as span:
        yield span


@contextmanager
def producing(name: str, traceparents: Sequence[str]) -> Iterator[Span]:
    """The span of relaying messages: in the trace of the first one, linked to them all."""
    if not _tracing:
        yield INVALID_SPAN
        return
    first = traceparents[0] if traceparents else ""
    links = [link for traceparent in traceparents for link in _link_to(traceparent)]
    with tracer.start_as_current_span(
        name, context=_context_of(first), kind=SpanKind.PRODUCER, links=links
    ) as span:
        yield span


def delivered(name: str, traceparent: str, attributes: Mapping[str, Any]) -> None:
    """Records the delivery of a live update to a subscriber, linked to what published it."""
    if not _tracing:
        return
    tracer.start_span(
        name,
        context=otel_context.Context(),
        kind=SpanKind.CONSUMER,
        links=_link_to(traceparent),
        attributes=attributes,
    ).end()


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the active span, in the hex form logs and viewers use."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
