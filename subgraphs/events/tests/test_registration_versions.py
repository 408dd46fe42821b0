"""Each registration event carries the registration's version after the change, growing
with every change, so consumers can ignore a stale one."""

import uuid

import asyncpg

from tests.support.environment import StackEnvironment
from tests.support.events import CANCEL_REGISTRATION, published_event, register
from tests.support.graphql import GraphQLClient
from tests.support.users import sign_up, with_role


async def test_registration_events_carry_growing_versions(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, capacity=1)
    first, second = await sign_up(api), await sign_up(api)
    seated = await register(api, event_id, first)
    waiting = await register(api, event_id, second)
    await api.data(CANCEL_REGISTRATION, {"id": event_id}, first.token)

    connection = await asyncpg.connect(environment.config.database_url)
    try:
        rows = await connection.fetch(
            "SELECT type, aggregate_id, version FROM events.outbox "
            "WHERE aggregate_id = ANY($1::text[]) ORDER BY position",
            [seated["id"], waiting["id"]],
        )
        current = await connection.fetch(
            "SELECT id::text, version FROM events.registrations WHERE event_id = $1",
            uuid.UUID(event_id),
        )
    finally:
        await connection.close()
    assert [(row["type"], row["aggregate_id"], row["version"]) for row in rows] == [
        ("registration.confirmed", seated["id"], 1),
        ("registration.waitlisted", waiting["id"], 1),
        ("registration.promoted", waiting["id"], 2),
        ("registration.cancelled", seated["id"], 2),
    ]
    assert {row["id"]: row["version"] for row in current} == {seated["id"]: 2, waiting["id"]: 2}
