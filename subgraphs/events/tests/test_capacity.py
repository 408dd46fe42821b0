"""Seats under contention, through the router: never overbooked, waitlist promoted in order."""

import asyncio
from typing import Any

from tests.support.environment import StackEnvironment
from tests.support.events import CANCEL_REGISTRATION, REGISTER, SEATS, published_event
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.users import Person, sign_up, with_role
from tests.support.waiting import eventually

WATCH = """
subscription Watch($id: ID!) {
  eventSeatsChanged(eventId: $id) { seatsTaken seatsLeft waitlistLength }
}
"""


async def _many_people(api: GraphQLClient, count: int) -> list[Person]:
    limit = asyncio.Semaphore(20)

    async def one(n: int) -> Person:
        async with limit:
            return await sign_up(api, f"Attendee {n}")

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def test_200_people_for_50_seats_then_10_cancellations(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, capacity=50)
    people = await _many_people(api, 200)
    observed: list[dict[str, Any]] = []

    async with subscribe(environment.router_ws_url, WATCH, {"id": event_id}) as watch:
        initial = (await watch.next())["data"]["eventSeatsChanged"]
        assert initial == {"seatsTaken": 0, "seatsLeft": 50, "waitlistLength": 0}
        pushed: list[dict[str, Any]] = []

        async def follow() -> None:
            while True:
                pushed.append((await watch.next(within=60))["data"]["eventSeatsChanged"])

        follower = asyncio.create_task(follow())

        async def register(person: Person) -> dict[str, Any]:
            body = await api.execute(REGISTER, {"id": event_id}, person.token)
            assert "errors" not in body, body
            registration: dict[str, Any] = body["data"]["registerForEvent"]
            return registration

        async def poll_seats(stop: asyncio.Event) -> None:
            while not stop.is_set():
                observed.append((await api.data(SEATS, {"id": event_id}))["event"])

        stop_polling = asyncio.Event()
        poller = asyncio.create_task(poll_seats(stop_polling))
        registrations = await asyncio.gather(*(register(person) for person in people))
        stop_polling.set()
        await poller

        statuses = [registration["status"] for registration in registrations]
        assert statuses.count("CONFIRMED") == 50
        assert statuses.count("WAITLISTED") == 150
        assert all(r["ticketCode"] for r in registrations if r["status"] == "CONFIRMED")
        assert len({r["ticketCode"] for r in registrations if r["ticketCode"]}) == 50

        final = await api.data(SEATS, {"id": event_id})
        assert final["event"] == {
            "capacity": 50, "seatsTaken": 50, "seatsLeft": 0, "waitlistLength": 150
        }  # fmt: skip

        by_person = dict(zip((p.id for p in people), registrations, strict=True))
        waitlisted = [p for p in people if by_person[p.id]["status"] == "WAITLISTED"]
        position = {p.id: await _waitlist_position(api, event_id, p) for p in waitlisted}
        assert sorted(position.values()) == list(range(1, 151))
        confirmed = [p for p in people if by_person[p.id]["status"] == "CONFIRMED"]

        cancelled = await asyncio.gather(
            *(api.data(CANCEL_REGISTRATION, {"id": event_id}, p.token) for p in confirmed[:10])
        )
        assert all(c["cancelRegistration"]["status"] == "CANCELLED" for c in cancelled)

        next_in_line = sorted(waitlisted, key=lambda p: position[p.id])
        promoted = [await _my_registration(api, event_id, p) for p in next_in_line[:10]]
        assert [r["status"] for r in promoted] == ["CONFIRMED"] * 10
        # Seats went to the longest-waiting people, in the order they had joined.
        confirmed_times = [r["confirmedAt"] for r in promoted]
        assert confirmed_times == sorted(confirmed_times)
        still_waiting = await _my_registration(api, event_id, next_in_line[10])
        assert still_waiting == {**still_waiting, "status": "WAITLISTED", "waitlistPosition": 1}

        final = await api.data(SEATS, {"id": event_id})
        assert final["event"] == {
            "capacity": 50, "seatsTaken": 50, "seatsLeft": 0, "waitlistLength": 140
        }  # fmt: skip

        # The watcher ends on the final counts, and no count anyone saw was impossible.
        final_counts = {"seatsTaken": 50, "seatsLeft": 0, "waitlistLength": 140}

        async def watcher_caught_up() -> bool:
            return bool(pushed) and pushed[-1] == final_counts

        await eventually(watcher_caught_up, "the watcher to receive the final counts", within=5)
        follower.cancel()
        assert len(pushed) > 50
        for counts in [*observed, *pushed]:
            assert counts["seatsLeft"] >= 0, counts
            assert counts["seatsTaken"] + counts["seatsLeft"] == 50, counts


async def _my_registration(api: GraphQLClient, event_id: str, person: Person) -> dict[str, Any]:
    query = """query Mine($id: ID!) {
        event(id: $id) { myRegistration { status waitlistPosition confirmedAt } } }"""
    registration: dict[str, Any] = (await api.data(query, {"id": event_id}, person.token))["event"][
        "myRegistration"
    ]
    return registration


async def _waitlist_position(api: GraphQLClient, event_id: str, person: Person) -> int:
    position: int = (await _my_registration(api, event_id, person))["waitlistPosition"]
    return position


async def test_registering_twice_is_idempotent(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await with_role(api, environment.config.database_url, "organizer")
    event_id = await published_event(api, organizer, capacity=1)
    person = await sign_up(api)
    first, second = await asyncio.gather(
        api.data(REGISTER, {"id": event_id}, person.token),
        api.data(REGISTER, {"id": event_id}, person.token),
    )
    assert first["registerForEvent"]["id"] == second["registerForEvent"]["id"]
    seats = (await api.data(SEATS, {"id": event_id}))["event"]
    assert seats == {"capacity": 1, "seatsTaken": 1, "seatsLeft": 0, "waitlistLength": 0}
