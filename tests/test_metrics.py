"""Metrics an operator can alert on: right statuses and bounded labels, on internal ports,
and the state that goes wrong quietly (backlogs, lagging consumers) visible."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import websockets

from shared.eventbus import dead_letter_stream, stream_name
from tests.support.environment import StackEnvironment
from tests.support.events import published_event
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.metrics import samples, value
from tests.support.users import sign_up, with_role
from tests.support.waiting import eventually

SEATS_CHANGED = """
subscription Seats($id: ID!) { eventSeatsChanged(eventId: $id) { seatsTaken } }
"""


async def test_websocket_sessions_count_as_accepted_not_as_server_errors(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, capacity=2)

    async def live() -> float:
        found = await samples(environment.config, "events")
        return value(found, "meetinity_live_subscriptions", service="events") or 0.0

    before = await live()
    async with subscribe(environment.router_ws_url, SEATS_CHANGED, {"id": event_id}) as watch:
        await watch.next()
        assert await live() == before + 1

    await eventually(lambda: _equals(live, before), "the subscription to end on the subgraph")
    found = await samples(environment.config, "events")
    sessions = [
        s for s in found if s.name == "meetinity_http_requests_total" and s.labels["method"] == "WS"
    ]
    assert {s.labels["status"] for s in sessions} == {"101"}, sessions
    assert {s.labels["path"] for s in sessions} == {"/graphql"}


async def test_websocket_sessions_are_logged_with_their_real_status(
    environment: StackEnvironment, stack: object
) -> None:
    direct = environment.config.url("matching").replace("http://", "ws://")
    async with websockets.connect(direct, subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
    assert environment.config.log_dir is not None
    log = environment.config.log_dir / "matching.log"

    async def sessions_logged() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line["message"] == "websocket session"]

    logged = await eventually(sessions_logged, "the session to be logged")
    assert [(line["method"], line["status"]) for line in logged] == [("WS", 101)] * len(logged)


async def _equals(read: Any, expected: float) -> bool:
    return bool(await read() == expected)


async def test_paths_are_labelled_by_route_template(environment: StackEnvironment) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    async with httpx.AsyncClient() as client:
        for event_id in (first, second):
            await client.get(environment.config.url("events", f"/events/{event_id}.ics"))
        await client.get(environment.config.url("events", f"/wp-login-{first}.php"))
    found = await samples(environment.config, "events")
    paths = {s.labels["path"] for s in found if s.name == "meetinity_http_requests_total"}
    assert "/events/{event_id}.ics" in paths
    assert "unmatched" in paths
    assert not [path for path in paths if str(first) in path or str(second) in path]
    assert (
        value(found, "meetinity_http_requests_total", path="/events/{event_id}.ics", status="404")
        or 0
    ) >= 2


async def test_metrics_are_served_on_internal_ports_only(
    environment: StackEnvironment, stack: object
) -> None:
    async with httpx.AsyncClient() as client:
        for service in ("router", "users", "events", "matching", "messaging"):
            public = await client.get(environment.config.url(service, "/metrics"))
            assert public.status_code == 404, service
            internal = await client.get(environment.config.metrics_url(service))
            assert internal.status_code == 200, service
            expected = (
                "graphql_yoga_http_duration" if service == "router" else "meetinity_http_requests"
            )
            assert expected in internal.text, service


async def test_operations_and_errors_are_counted_by_name_and_code(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    async def errors() -> float:
        found = await samples(environment.config, "router")
        name = "meetinity_router_graphql_errors_total"
        return value(found, name, operation="WhoAmIMetrics", code="UNAUTHENTICATED") or 0.0

    before = await errors()
    response = await api.http.post(
        api.url,
        json={
            "query": "query WhoAmIMetrics { recommendations { edges { node { score } } } }",
            "operationName": "WhoAmIMetrics",
        },
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await errors() == before + 1

    router = await samples(environment.config, "router")
    assert value(router, "graphql_envelop_request_duration_count", operationName="WhoAmIMetrics")
    matching = await samples(environment.config, "matching")
    labels = {"service": "matching", "code": "UNAUTHENTICATED"}
    assert value(matching, "meetinity_graphql_errors_total", **labels)
    assert value(matching, "meetinity_graphql_operations_total", service="matching", type="query")


@pytest.fixture
async def redis_client(environment: StackEnvironment) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(environment.config.redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_a_stuck_outbox_row_shows_as_backlog_with_its_age(
    environment: StackEnvironment, stack: object
) -> None:
    connection = await asyncpg.connect(environment.config.database_url)
    holder = await asyncpg.connect(environment.config.database_url)
    event_id = uuid.uuid4()
    try:
        await connection.execute(
            "INSERT INTO users.outbox (id, type, aggregate_id, payload, occurred_at)"
            " VALUES ($1, 'test.stuck', 'nobody', '{}', now() - interval '10 minutes')",
            event_id,
        )
        # The relay takes rows FOR UPDATE SKIP LOCKED: a row locked elsewhere stays behind,
        # as one would behind a relay that stopped.
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT 1 FROM users.outbox WHERE id = $1 FOR UPDATE", event_id)
        found = await samples(environment.config, "users")
        assert (value(found, "meetinity_outbox_backlog_rows", service="users") or 0) >= 1
        age = value(found, "meetinity_outbox_oldest_age_seconds", service="users") or 0
        assert age >= 600
        # Gone without ever being published (no consumer must see a test event).
        await holder.execute("DELETE FROM users.outbox WHERE id = $1", event_id)
        await transaction.commit()
    finally:
        await holder.close()
        await connection.close()

    async def drained() -> bool:
        found = await samples(environment.config, "users")
        return value(found, "meetinity_outbox_backlog_rows", service="users") == 0

    await eventually(drained, "the backlog gauge to fall back to zero")


async def test_a_lagging_consumer_group_shows_its_lag_and_pending_entries(
    api: GraphQLClient, environment: StackEnvironment, redis_client: aioredis.Redis
) -> None:
    stream = stream_name(environment.config.redis_prefix, "users")
    await sign_up(api, "Lag Maker")
    await eventually(lambda: redis_client.xlen(stream), "the users stream to have entries")
    group = f"test-lagging-{uuid.uuid4().hex[:6]}"
    await redis_client.xgroup_create(stream, group, id="0")
    try:
        await redis_client.xreadgroup(group, "slowpoke", {stream: ">"}, count=1)
        length_before = await redis_client.xlen(stream)
        found = await samples(environment.config, "users")
        length_after = await redis_client.xlen(stream)  # earlier tests' events may still land
        labels = {"service": "users", "stream": stream, "group": group}
        assert value(found, "meetinity_stream_consumer_pending", **labels) == 1
        lag = value(found, "meetinity_stream_consumer_lag", **labels)
        assert lag is not None and length_before - 1 <= lag <= length_after - 1
    finally:
        await redis_client.xgroup_destroy(stream, group)


async def test_pools_report_connections_in_use_and_waiting(
    environment: StackEnvironment, stack: object
) -> None:
    for service in ("users", "events", "matching", "messaging"):
        found = await samples(environment.config, service)
        for pool in ("request", "background"):
            for name in ("in_use", "idle"):
                metric = f"meetinity_db_pool_connections_{name}"
                assert value(found, metric, service=service, pool=pool) is not None
            assert value(found, "meetinity_db_pool_waiting", service=service, pool=pool) == 0


async def test_dead_letters_waiting_show_per_stream(
    environment: StackEnvironment, stack: object, redis_client: aioredis.Redis
) -> None:
    stream = stream_name(environment.config.redis_prefix, "users")
    letters = dead_letter_stream(stream)
    labels = {"service": "users", "stream": stream}
    before = value(
        await samples(environment.config, "users"), "meetinity_stream_dead_letters", **labels
    )
    letter_id = await redis_client.xadd(letters, {"dead_letter_reason": "test"})
    try:
        found = await samples(environment.config, "users")
        assert value(found, "meetinity_stream_dead_letters", **labels) == (before or 0) + 1
    finally:
        await redis_client.xdel(letters, letter_id)
