"""One trace from the client to the database and the consumers, read back from the spans
the local collector stored, as `python -m tools trace` shows them to a developer."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from shared.settings import REPO_ROOT
from tests.support.environment import StackEnvironment
from tests.support.events import REGISTER, published_event
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.users import PASSWORD, SIGN_UP, sign_up, with_role
from tests.support.waiting import eventually
from tools.collector import linked_to, read_trace

Span = dict[str, Any]
SEATS_CHANGED = """
subscription Seats($id: ID!) { eventSeatsChanged(eventId: $id) { seatsTaken } }
"""


def traces_file(environment: StackEnvironment) -> Path:
    assert environment.config.traces_file is not None
    return environment.config.traces_file


async def sign_up_traced(api: GraphQLClient, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Signs someone up (users writes the outbox; events consumes user.registered): the
    response's trace id (header) and its body."""
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    response = await api.http.post(
        api.url,
        json={
            "query": SIGN_UP,
            "variables": {"email": email, "password": PASSWORD, "name": "Traced"},
            "operationName": "SignUp",
        },
        headers=headers,
    )
    body = response.json()
    assert "errors" not in body, body
    return response.headers["x-trace-id"], body


async def whole_trace(environment: StackEnvironment, trace_id: str) -> list[Span]:
    """The trace once the consumer's work has reached the collector too."""

    async def with_consumer() -> list[Span]:
        spans = read_trace(traces_file(environment), trace_id)
        # Messaging consumes the users stream too: wait for the events subgraph's consumer,
        # and for the router and the users relay, whose spans reach the collector in
        # batches of their own (the relay's can come after the consumer's). The router's
        # request span ends last of its spans, and its batch can follow the parse's.
        consumed = [s for s in _by(spans, "events") if s["name"] == "consume user.registered"]
        relayed = [s for s in _by(spans, "users") if s["kind"] == "producer"]
        answered = [s for s in _by(spans, "router") if s["name"] == "POST /graphql"]
        complete = consumed and _children(spans, consumed[0]) and answered and relayed
        return spans if complete else []

    found: list[Span] = await eventually(with_consumer, "the consumer's spans", within=20)
    return found


def _children(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s["parent_span_id"] == parent["span_id"]]


def _by(spans: list[Span], service: str) -> list[Span]:
    return [s for s in spans if s["service"] == service]


def _is(span: Span, system: str) -> bool:
    return bool(span["attributes"].get("db.system") == system)


def assert_one_trace_through_every_hop(spans: list[Span], trace_id: str) -> None:
    ids = {s["span_id"] for s in spans}
    router, users, events = _by(spans, "router"), _by(spans, "users"), _by(spans, "events")
    assert router and users and events, {s["service"] for s in spans}
    # The router: request, operation, parse / validate / execute, the call to users.
    names = {s["name"] for s in router}
    assert {"POST /graphql", "graphql.operation SignUp", "graphql.parse", "graphql.validate",
            "graphql.execute", "subgraph.execute (users)"} <= names, names  # fmt: skip
    # The subgraph's server span under the router's call, one span for the GraphQL
    # operation named after it, and its SQL beneath that.
    (server,) = [s for s in users if s["kind"] == "server"]
    assert server["parent_span_id"] in {s["span_id"] for s in router}
    (operation,) = [s for s in users if s["name"] == "mutation SignUp"]
    assert operation["parent_span_id"] == server["span_id"]
    assert any(_is(s, "postgresql") for s in _children(spans, operation))
    # Redis: the relay's XADD of the outbox row to the stream, in the same trace.
    (relay,) = [s for s in users if s["kind"] == "producer"]
    assert any(_is(s, "redis") for s in _children(spans, relay))
    # The consumer's work: parented in this trace and linked to the span that produced it.
    (consumed,) = [s for s in events if s["name"] == "consume user.registered"]
    assert consumed["kind"] == "consumer"
    assert consumed["parent_span_id"] in ids
    assert {link["trace_id"] for link in consumed["links"]} == {trace_id}
    assert any(_is(s, "postgresql") for s in _children(spans, consumed))


def log_lines_with(environment: StackEnvironment, service: str, trace_id: str) -> list[Any]:
    assert environment.config.log_dir is not None
    lines = (environment.config.log_dir / f"{service}.log").read_text().splitlines()
    return [json.loads(line) for line in lines if trace_id in line and line.startswith("{")]


async def test_a_sign_up_is_one_trace_from_the_client_to_the_consumer(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    header_id, body = await sign_up_traced(api, {"traceparent": traceparent})
    assert header_id == trace_id
    assert body["extensions"]["traceId"] == trace_id

    spans = await whole_trace(environment, trace_id)
    assert_one_trace_through_every_hop(spans, trace_id)
    # The router continued the client's trace: its first span's parent is the client's.
    assert any(s["parent_span_id"] == traceparent.split("-")[2] for s in _by(spans, "router"))

    for service in ("router", "users"):
        lines = log_lines_with(environment, service, trace_id)
        assert lines, service
        assert all(line["trace_id"] == trace_id for line in lines)
    users_lines = log_lines_with(environment, "users", trace_id)
    assert any(line.get("span_id") for line in users_lines)


async def test_the_router_starts_a_trace_when_the_client_sends_none(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    trace_id, body = await sign_up_traced(api, {})
    assert len(trace_id) == 32 and int(trace_id, 16)
    assert body["extensions"]["traceId"] == trace_id
    spans = await whole_trace(environment, trace_id)
    assert_one_trace_through_every_hop(spans, trace_id)
    roots = [s for s in spans if not s["parent_span_id"]]
    assert [s["service"] for s in roots] == ["router"]


async def test_the_trace_command_prints_the_tree_with_timings(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    trace_id, _ = await sign_up_traced(api, {})
    await whole_trace(environment, trace_id)
    command = [sys.executable, "-m", "tools", "trace", trace_id,
               "--traces-file", str(traces_file(environment))]  # fmt: skip
    result = await asyncio.to_thread(
        subprocess.run, command, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split("  ")[-1].startswith("router: ")
    assert " ms " in lines[0]
    for expected in ("users: ", "events: consume user.registered [consumer]"):
        assert any(expected in line for line in lines), result.stdout


async def test_a_live_update_delivery_links_to_the_mutation_that_caused_it(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, capacity=3)
    someone = await sign_up(api, "Live Watcher")
    async with subscribe(environment.router_ws_url, SEATS_CHANGED, {"id": event_id}) as watch:
        await watch.next()
        response = await api.http.post(
            api.url,
            json={"query": REGISTER, "variables": {"id": event_id}},
            headers={"authorization": f"Bearer {someone.token}"},
        )
        trace_id = response.headers["x-trace-id"]
        assert (await watch.next())["data"]["eventSeatsChanged"]["seatsTaken"] == 1

    async def deliveries() -> list[Span]:
        return [
            s
            for s in linked_to(traces_file(environment), trace_id)
            if s["name"].startswith("deliver ")
        ]

    (delivery,) = await eventually(deliveries, "the delivery span")
    assert delivery["service"] == "events" and delivery["kind"] == "consumer"


def test_without_an_endpoint_no_tracing_sdk_is_even_loaded() -> None:
    probe = (
        "import sys, subgraphs.matching.app; from opentelemetry import trace; "
        "print(type(trace.get_tracer_provider()).__name__, "
        "[m for m in sys.modules if m.startswith(('opentelemetry.sdk.trace', "
        "'opentelemetry.instrumentation.'))])"
    )
    # (redis-py 8 imports the OpenTelemetry metrics SDK on its own once it is installed.)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", probe], env={**environment, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.stdout.split() == ["ProxyTracerProvider", "[]"], result.stdout + result.stderr
