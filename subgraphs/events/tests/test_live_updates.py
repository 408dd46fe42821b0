"""Live updates through the router over WebSocket, fanned out across events replicas by Redis."""

import dataclasses
from pathlib import Path

from redis.asyncio import Redis

from subgraphs.events.live import registrations_channel
from subgraphs.events.tests.test_outbox import events_subgraph, private_database, private_redis
from tests.support.environment import StackEnvironment
from tests.support.events import CANCEL_REGISTRATION, REGISTER, published_event
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.users import sign_up, with_role
from tests.support.waiting import eventually
from tools.stack import Stack, free_port

SEATS_CHANGED = """
subscription Seats($id: ID!) {
  eventSeatsChanged(eventId: $id) { eventId capacity seatsTaken seatsLeft waitlistLength }
}
"""
MY_REGISTRATION_CHANGED = """
subscription Mine {
  myRegistrationChanged {
    change
    registration { status waitlistPosition event { id title organizer { name } } }
  }
}
"""

# What the events subgraph alone can answer.
MY_CHANGES_ON_EVENTS = """
subscription { myRegistrationChanged { change registration { status event { id } } } }
"""


async def my_changes_reached_redis(environment: StackEnvironment, user_id: str) -> None:
    """The router opens the subgraph's subscription asynchronously: a change made before
    it reaches Redis is (rightly) never heard of."""
    channel = f"{environment.config.redis_prefix}:live:{registrations_channel(user_id)}"
    watcher = Redis.from_url(environment.config.redis_url)

    async def subscribed() -> bool:
        [(_, count)] = await watcher.pubsub_numsub(channel)
        return bool(count)

    try:
        await eventually(subscribed, "the subscription to reach Redis")
    finally:
        await watcher.aclose()


async def test_every_replica_pushes_seat_counts_to_its_watchers(
    api: GraphQLClient, environment: StackEnvironment, stack: Stack
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, capacity=2)
    replica_port = free_port()
    replica = Stack(dataclasses.replace(environment.config, log_dir=environment.config.log_dir))
    replica.start_subgraph("events", port=replica_port, replica="-replica", role="api")
    try:
        replica.wait_ready()
        through_router = subscribe(environment.router_ws_url, SEATS_CHANGED, {"id": event_id})
        on_replica = subscribe(
            f"ws://127.0.0.1:{replica_port}/graphql", SEATS_CHANGED, {"id": event_id}
        )
        async with through_router as router_watch, on_replica as replica_watch:
            for watch in (router_watch, replica_watch):
                first = (await watch.next())["data"]["eventSeatsChanged"]
                assert first["seatsTaken"] == 0 and first["seatsLeft"] == 2

            # The registration goes through the router to the primary events process;
            # the replica learns of it only through Redis.
            someone = await sign_up(api)
            await api.data(REGISTER, {"id": event_id}, someone.token)
            expected = {"eventId": event_id, "capacity": 2, "seatsTaken": 1, "seatsLeft": 1,
                        "waitlistLength": 0}  # fmt: skip
            assert (await router_watch.next(within=1.0))["data"]["eventSeatsChanged"] == expected
            assert (await replica_watch.next(within=1.0))["data"]["eventSeatsChanged"] == expected
    finally:
        replica.stop()


async def test_people_hear_when_they_are_promoted_from_the_waitlist(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer", "Organizer Olga")
    event_id = await published_event(api, organizer, capacity=1, title="Promotion party")
    seated, waiting = await sign_up(api), await sign_up(api)
    await api.data(REGISTER, {"id": event_id}, seated.token)
    queued = (await api.data(REGISTER, {"id": event_id}, waiting.token))["registerForEvent"]
    assert queued["status"] == "WAITLISTED"

    async with subscribe(
        environment.router_ws_url, MY_REGISTRATION_CHANGED, token=waiting.token
    ) as mine:
        await my_changes_reached_redis(environment, waiting.id)
        await api.data(CANCEL_REGISTRATION, {"id": event_id}, seated.token)
        change = (await mine.next(within=10.0))["data"]["myRegistrationChanged"]
    assert change == {
        "change": "PROMOTED",
        "registration": {
            "status": "CONFIRMED",
            "waitlistPosition": None,
            "event": {"id": event_id, "title": "Promotion party",
                      "organizer": {"name": "Organizer Olga"}},
        },
    }  # fmt: skip


async def test_my_registration_changes_need_a_token(environment: StackEnvironment) -> None:
    async with subscribe(environment.router_ws_url, MY_REGISTRATION_CHANGED) as anonymous:
        message = await anonymous.error()
    assert message[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_change_published_while_redis_was_down_reaches_the_subscriber_once_it_is_back(
    api: GraphQLClient, environment: StackEnvironment, tmp_path: Path
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    person = await sign_up(api)
    async with (
        private_redis(tmp_path) as redis,
        private_database() as database,
        events_subgraph(environment, database, redis.url, tmp_path / "logs") as events,
    ):
        event_id = await published_event(events.client, organizer, title="Outage party")
        ws_url = events.client.url.replace("http://", "ws://")
        channel = f"{environment.config.redis_prefix}:live:{registrations_channel(person.id)}"
        watcher = Redis.from_url(redis.url)

        async def subscribed() -> bool:
            [(_, count)] = await watcher.pubsub_numsub(channel)
            return bool(count)

        try:
            # Straight to the events process: its Redis is the one this test stops.
            async with subscribe(ws_url, MY_CHANGES_ON_EVENTS, token=person.token) as mine:
                await eventually(subscribed, "the subscription to reach Redis")
                await redis.stop()
                # Committed; its live update is lost with Redis.
                await events.client.data(REGISTER, {"id": event_id}, person.token)
                await redis.start()
                change = (await mine.next(within=20))["data"]["myRegistrationChanged"]
        finally:
            await watcher.aclose()
    assert change["change"] == "CONFIRMED"
    assert change["registration"]["status"] == "CONFIRMED"
    assert change["registration"]["event"]["id"] == event_id


async def test_changes_in_quick_succession_each_reach_me_with_their_event(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    """Each live change carries its event and organizer, which the router fetches from two
    subgraphs: three changes close together must still arrive as three."""
    organizer = await with_role(api, environment.config.database_url, "organizer", "Organizer Ines")
    events = [await published_event(api, organizer, title=f"Burst {n}") for n in range(3)]
    person = await sign_up(api)
    async with subscribe(
        environment.router_ws_url, MY_REGISTRATION_CHANGED, token=person.token
    ) as mine:
        await my_changes_reached_redis(environment, person.id)
        for event_id in events:
            await api.data(REGISTER, {"id": event_id}, person.token)
        heard = [(await mine.next(within=10.0))["data"]["myRegistrationChanged"] for _ in events]
    assert sorted(change["registration"]["event"]["id"] for change in heard) == sorted(events)
    assert {change["registration"]["event"]["organizer"]["name"] for change in heard} == {
        "Organizer Ines"
    }
