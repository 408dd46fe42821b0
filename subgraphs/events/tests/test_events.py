"""Events through the router: their lifecycle, what a valid event is, registering, approving,
checking in, cancelling, finding events page by page, and calendar files."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from tests.support.environment import StackEnvironment
from tests.support.events import (
    APPROVE,
    CANCEL_EVENT,
    CANCEL_REGISTRATION,
    CHECK_IN,
    CREATE,
    EVENT,
    PUBLISH,
    REGISTER,
    REJECT,
    SEATS,
    UPDATE,
    draft_event,
    event_input,
    move_event,
    my_registration,
    only_error,
    published_event,
    register,
)
from tests.support.graphql import GraphQLClient
from tests.support.users import Person, sign_up, with_role

CREATE_IN_FULL = """
mutation Create($input: EventInput!) {
  createEvent(input: $input) {
    id title description category tags startsAt endsAt
    venue { name address city country } onlineUrl capacity coverImageUrl
    registrationOpensAt registrationClosesAt requiresApproval status
    seatsTaken seatsLeft waitlistLength organizer { id name }
  }
}
"""
ORGANIZED = """
query Organized($id: ID!) {
  user(id: $id) { organizedEvents { edges { node { id title status organizer { name } } } } }
}
"""
EVENTS = """
query Events($filter: EventFilter, $first: Int! = 20, $after: String) {
  events(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id startsAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
REGISTRATIONS = """
query Registrations($id: ID!) {
  event(id: $id) {
    registrations { edges { node { user { id } status cancelledAt } } }
  }
}
"""
ICALENDAR = "query Calendar($id: ID!) { event(id: $id) { icalendar } }"
PUBLISH_CALENDAR = "mutation Publish($id: ID!) { publishEvent(id: $id) { icalendar } }"
CANCEL_CALENDAR = "mutation Cancel($id: ID!) { cancelEvent(id: $id) { icalendar } }"


def _in(days: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)


def _times(starts: datetime, hours: float = 2) -> dict[str, str]:
    return {"startsAt": starts.isoformat(), "endsAt": (starts + timedelta(hours=hours)).isoformat()}


async def _organizer(api: GraphQLClient, environment: StackEnvironment, name: str = "") -> Person:
    return await with_role(api, environment.config.database_url, "organizer", name)


async def _event(api: GraphQLClient, event_id: str, token: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = (await api.data(EVENT, {"id": event_id}, token))["event"]
    return event


async def _organized_ids(api: GraphQLClient, organizer: Person) -> list[str]:
    data = await api.data(ORGANIZED, {"id": organizer.id}, organizer.token)
    return [edge["node"]["id"] for edge in data["user"]["organizedEvents"]["edges"]]


async def _statuses(api: GraphQLClient, event_id: str, people: list[Person]) -> list[str]:
    statuses = []
    for person in people:
        registration = await my_registration(api, event_id, person)
        assert registration is not None
        statuses.append(registration["status"])
    return statuses


async def _seats(api: GraphQLClient, event_id: str) -> dict[str, Any]:
    seats: dict[str, Any] = (await api.data(SEATS, {"id": event_id}))["event"]
    return seats


async def _found(api: GraphQLClient, token: str | None = None, **filters: Any) -> list[str]:
    data = await api.data(EVENTS, {"filter": filters}, token)
    return [edge["node"]["id"] for edge in data["events"]["edges"]]


# Lifecycle and validation -------------------------------------------------------------------


async def test_a_new_event_is_a_draft_until_its_organizer_publishes_it(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment, "Olga Organizer")
    starts = _in(30)
    given = event_input(
        title="  Python Night  ",
        tags=["Python", " web   dev ", "python"],
        country="fr",
        onlineUrl="https://stream.example.test/night",
        coverImageUrl="https://cdn.example.test/cover.png",
        registrationOpensAt=_in(1).isoformat(),
        registrationClosesAt=(starts - timedelta(hours=1)).isoformat(),
        **_times(starts, hours=3),
    )
    created = (await api.data(CREATE_IN_FULL, {"input": given}, organizer.token))["createEvent"]
    assert created == {
        "id": created["id"],
        "title": "Python Night",
        "description": "Talks and drinks",
        "category": "MEETUP",
        "tags": ["python", "web dev"],
        "startsAt": given["startsAt"],
        "endsAt": given["endsAt"],
        "venue": {
            "name": "La Cantine",
            "address": "151 rue Montmartre",
            "city": "Paris",
            "country": "FR",
        },
        "onlineUrl": "https://stream.example.test/night",
        "capacity": 50,
        "coverImageUrl": "https://cdn.example.test/cover.png",
        "registrationOpensAt": given["registrationOpensAt"],
        "registrationClosesAt": given["registrationClosesAt"],
        "requiresApproval": False,
        "status": "DRAFT",
        "seatsTaken": 0,
        "seatsLeft": 50,
        "waitlistLength": 0,
        "organizer": {"id": organizer.id, "name": "Olga Organizer"},
    }
    event_id = created["id"]
    published = await api.data(PUBLISH, {"id": event_id}, organizer.token)
    assert published["publishEvent"] == {"id": event_id, "status": "PUBLISHED"}
    # Publishing again changes nothing; anyone now sees the event.
    again = await api.data(PUBLISH, {"id": event_id}, organizer.token)
    assert again["publishEvent"]["status"] == "PUBLISHED"
    assert (await _event(api, event_id))["status"] == "PUBLISHED"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endsAt": "2020-01-01T00:00:00+00:00"}, "endsAt"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": -3}, "capacity"),
        ({"registrationClosesAt": "2100-01-01T00:00:00+00:00"}, "registrationClosesAt"),
        (
            {
                "registrationOpensAt": "2030-01-02T00:00:00+00:00",
                "registrationClosesAt": "2030-01-01T00:00:00+00:00",
            },
            "registrationOpensAt",
        ),
        ({"startsAt": "2030-05-01T18:30:00", "endsAt": "2030-05-01T21:00:00+00:00"}, "startsAt"),
        ({"registrationOpensAt": "2030-01-01T00:00:00"}, "registrationOpensAt"),
        ({"startsAt": None}, "startsAt"),
        ({"title": "ab"}, "title"),
        ({"title": "   ab   "}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": None}, "title"),
        ({"country": "XX"}, "country"),
        ({"venueName": None, "city": None, "country": None, "venueAddress": None}, "venue"),
        ({"tags": [f"tag {n}" for n in range(11)]}, "tags"),
        ({"tags": ["   "]}, "tags"),
        ({"onlineUrl": "javascript:alert(1)"}, "onlineUrl"),
        ({"coverImageUrl": "not a url"}, "coverImageUrl"),
    ],
)
async def test_an_invalid_event_is_refused_and_nothing_is_written(
    api: GraphQLClient, environment: StackEnvironment, change: dict[str, Any], field: str
) -> None:
    organizer = await _organizer(api, environment)
    error = await only_error(api, CREATE, {"input": event_input(**change)}, organizer.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert field in error["extensions"]["fields"], error
    assert await _organized_ids(api, organizer) == []


async def test_an_update_changes_only_the_fields_given(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer, onlineUrl="https://stream.example.test/x")
    before = await _event(api, event_id)
    changes = {"title": "Python Night, Extended", "capacity": 80, "onlineUrl": None}
    await api.data(UPDATE, {"id": event_id, "input": changes}, organizer.token)
    after = await _event(api, event_id)
    assert after == {**before, **changes, "seatsLeft": 80}

    # An invalid update is refused whole, even next to a valid change.
    for invalid, field in [
        ({"endsAt": before["startsAt"]}, "endsAt"),
        ({"venueName": None, "onlineUrl": None}, "venue"),
        ({"capacity": 0}, "capacity"),
    ]:
        variables = {"id": event_id, "input": {"description": "Changed", **invalid}}
        error = await only_error(api, UPDATE, variables, organizer.token)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert field in error["extensions"]["fields"], error
    assert await _event(api, event_id) == after


async def test_capacity_cannot_go_below_the_seats_taken(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer, capacity=3)
    for _ in range(3):
        await register(api, event_id, await sign_up(api))
    variables = {"id": event_id, "input": {"capacity": 2}}
    error = await only_error(api, UPDATE, variables, organizer.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "capacity" in error["extensions"]["fields"], error
    assert await _seats(api, event_id) == {
        "capacity": 3, "seatsTaken": 3, "seatsLeft": 0, "waitlistLength": 0
    }  # fmt: skip


async def test_more_seats_go_at_once_to_the_longest_waiting(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer, capacity=1)
    people = [await sign_up(api, f"Person {n}") for n in range(5)]
    for person in people:
        await register(api, event_id, person)
    assert await _statuses(api, event_id, people) == ["CONFIRMED"] + ["WAITLISTED"] * 4

    await api.data(UPDATE, {"id": event_id, "input": {"capacity": 3}}, organizer.token)
    assert await _statuses(api, event_id, people) == ["CONFIRMED"] * 3 + ["WAITLISTED"] * 2
    assert await _seats(api, event_id) == {
        "capacity": 3, "seatsTaken": 3, "seatsLeft": 0, "waitlistLength": 2
    }  # fmt: skip
    next_in_line = await my_registration(api, event_id, people[3])
    assert next_in_line is not None and next_in_line["waitlistPosition"] == 1

    # No limit at all: everyone still waiting gets a seat.
    await api.data(UPDATE, {"id": event_id, "input": {"capacity": None}}, organizer.token)
    assert await _statuses(api, event_id, people) == ["CONFIRMED"] * 5
    assert await _seats(api, event_id) == {
        "capacity": None, "seatsTaken": 5, "seatsLeft": None, "waitlistLength": 0
    }  # fmt: skip


# Registering ----------------------------------------------------------------------------


async def _cancelled_event(api: GraphQLClient, env: StackEnvironment, organizer: Person) -> str:
    event_id = await published_event(api, organizer)
    await api.data(CANCEL_EVENT, {"id": event_id}, organizer.token)
    return event_id


async def _started_event(api: GraphQLClient, env: StackEnvironment, organizer: Person) -> str:
    event_id = await published_event(api, organizer)
    now = datetime.now(UTC)
    await move_event(
        env.config.database_url, event_id, now - timedelta(hours=1), now + timedelta(hours=2)
    )
    return event_id


async def _closed_event(api: GraphQLClient, env: StackEnvironment, organizer: Person) -> str:
    closed = {"registrationClosesAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    return await published_event(api, organizer, **closed)


async def _not_yet_open_event(api: GraphQLClient, env: StackEnvironment, organizer: Person) -> str:
    return await published_event(api, organizer, registrationOpensAt=_in(1).isoformat())


@pytest.mark.parametrize(
    ("make_event", "reason", "message"),
    [
        (_cancelled_event, "EVENT_CANCELLED", "cancelled"),
        (_started_event, "EVENT_STARTED", "started"),
        (_closed_event, "REGISTRATION_CLOSED", "closed"),
        (_not_yet_open_event, "REGISTRATION_NOT_OPEN", "open at"),
    ],
    ids=["cancelled", "started", "closed", "not-yet-open"],
)
async def test_registering_is_refused_when_the_event_does_not_take_registrations(
    api: GraphQLClient,
    environment: StackEnvironment,
    make_event: Callable[[GraphQLClient, StackEnvironment, Person], Awaitable[str]],
    reason: str,
    message: str,
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await make_event(api, environment, organizer)
    person = await sign_up(api)
    error = await only_error(api, REGISTER, {"id": event_id}, person.token)
    assert error["extensions"]["code"] == "CONFLICT", error
    assert error["extensions"]["reason"] == reason, error
    assert message in error["message"], error
    assert await my_registration(api, event_id, person) is None
    assert (await _seats(api, event_id))["seatsTaken"] == 0


async def test_requests_wait_for_the_organizers_approval(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer, capacity=1, requiresApproval=True)
    first, second, third = await sign_up(api), await sign_up(api), await sign_up(api)
    requests = [await register(api, event_id, person) for person in (first, second, third)]
    assert [r["status"] for r in requests] == ["PENDING_APPROVAL"] * 3
    assert all(r["ticketCode"] is None for r in requests)
    # Requests hold neither seats nor waitlist places.
    assert await _seats(api, event_id) == {
        "capacity": 1, "seatsTaken": 0, "seatsLeft": 1, "waitlistLength": 0
    }  # fmt: skip

    approved = (await api.data(APPROVE, {"id": requests[0]["id"]}, organizer.token))[
        "approveRegistration"
    ]
    assert approved["status"] == "CONFIRMED" and approved["ticketCode"]
    full = await api.data(APPROVE, {"id": requests[1]["id"]}, organizer.token)
    assert full["approveRegistration"]["status"] == "WAITLISTED"
    rejected = await api.data(REJECT, {"id": requests[2]["id"]}, organizer.token)
    assert rejected["rejectRegistration"]["status"] == "REJECTED"
    assert await _statuses(api, event_id, [first, second, third]) == [
        "CONFIRMED",
        "WAITLISTED",
        "REJECTED",
    ]
    assert await _seats(api, event_id) == {
        "capacity": 1, "seatsTaken": 1, "seatsLeft": 0, "waitlistLength": 1
    }  # fmt: skip

    # Only requests are approved, once.
    for done in requests:
        error = await only_error(api, APPROVE, {"id": done["id"]}, organizer.token)
        assert error["extensions"]["code"] == "CONFLICT", error
    # A waitlisted person can still be turned down, which frees their place.
    await api.data(REJECT, {"id": requests[1]["id"]}, organizer.token)
    assert (await _seats(api, event_id))["waitlistLength"] == 0
    missing = str(uuid.uuid4())
    assert await api.error_code(APPROVE, {"id": missing}, organizer.token) == "NOT_FOUND"


async def test_check_in_by_registration_or_ticket_admits_each_person_once(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer, capacity=2)
    by_id, by_ticket, waiting = await sign_up(api), await sign_up(api), await sign_up(api)
    first = await register(api, event_id, by_id)
    second = await register(api, event_id, by_ticket)
    waitlisted = await register(api, event_id, waiting)

    admitted = await api.data(CHECK_IN, {"registrationId": first["id"]}, organizer.token)
    assert admitted["checkIn"]["status"] == "CHECKED_IN" and admitted["checkIn"]["checkedInAt"]
    with_code = {"ticketCode": second["ticketCode"]}
    admitted = await api.data(CHECK_IN, with_code, organizer.token)
    assert admitted["checkIn"] == {
        **admitted["checkIn"],
        "id": second["id"],
        "status": "CHECKED_IN",
    }
    for person in (by_id, by_ticket):
        registration = await my_registration(api, event_id, person)
        assert registration is not None and registration["status"] == "CHECKED_IN"
        assert registration["checkedInAt"]

    refusals: list[tuple[dict[str, Any], str]] = [
        ({"registrationId": first["id"]}, "CONFLICT"),
        (with_code, "CONFLICT"),
        ({"registrationId": waitlisted["id"]}, "CONFLICT"),
        ({"ticketCode": "no-such-ticket"}, "NOT_FOUND"),
        ({"registrationId": str(uuid.uuid4())}, "NOT_FOUND"),
        ({}, "BAD_USER_INPUT"),
        ({"registrationId": first["id"], "ticketCode": second["ticketCode"]}, "BAD_USER_INPUT"),
    ]
    for variables, code in refusals:
        error = await only_error(api, CHECK_IN, variables, organizer.token)
        assert error["extensions"]["code"] == code, (variables, error)
    assert await _statuses(api, event_id, [waiting]) == ["WAITLISTED"]


async def test_cancelling_an_event_cancels_every_registration(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer, capacity=2)
    people = [await sign_up(api) for _ in range(3)]
    for person in people:
        await register(api, event_id, person)
    cancelled = await api.data(CANCEL_EVENT, {"id": event_id}, organizer.token)
    assert cancelled["cancelEvent"] == {"id": event_id, "status": "CANCELLED"}
    assert await _seats(api, event_id) == {
        "capacity": 2, "seatsTaken": 0, "seatsLeft": 2, "waitlistLength": 0
    }  # fmt: skip
    data = await api.data(REGISTRATIONS, {"id": event_id}, organizer.token)
    registrations = [edge["node"] for edge in data["event"]["registrations"]["edges"]]
    assert {r["user"]["id"] for r in registrations} == {p.id for p in people}
    assert all(r["status"] == "CANCELLED" and r["cancelledAt"] for r in registrations)

    # A cancelled event stays cancelled.
    again = await api.data(CANCEL_EVENT, {"id": event_id}, organizer.token)
    assert again["cancelEvent"]["status"] == "CANCELLED"
    refused: list[tuple[str, dict[str, Any]]] = [
        (PUBLISH, {"id": event_id}),
        (UPDATE, {"id": event_id, "input": {"title": "Back on"}}),
    ]
    for operation, variables in refused:
        error = await only_error(api, operation, variables, organizer.token)
        assert error["extensions"]["code"] == "CONFLICT", error


async def test_a_draft_cannot_be_cancelled_into_public_view(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await draft_event(api, organizer)
    error = await only_error(api, CANCEL_EVENT, {"id": event_id}, organizer.token)
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["reason"] == "EVENT_NOT_PUBLISHED"
    stranger = await sign_up(api)
    hidden = await only_error(api, EVENT, {"id": event_id}, stranger.token)
    assert hidden["extensions"]["code"] == "NOT_FOUND"


async def test_cancelling_a_registration_one_does_not_have_is_not_found(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer)
    person = await sign_up(api)
    assert await api.error_code(CANCEL_REGISTRATION, {"id": event_id}, person.token) == "NOT_FOUND"
    await register(api, event_id, person)
    cancelled = await api.data(CANCEL_REGISTRATION, {"id": event_id}, person.token)
    assert cancelled["cancelRegistration"]["status"] == "CANCELLED"
    assert await api.error_code(CANCEL_REGISTRATION, {"id": event_id}, person.token) == "NOT_FOUND"
    assert (await _seats(api, event_id))["seatsTaken"] == 0


# Finding events ----------------------------------------------------------------------------


async def test_events_are_filtered_and_ordered_by_start_time(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer, stranger = await _organizer(api, environment), await sign_up(api)
    marker = uuid.uuid4().hex[:12]

    async def make(days: float, publish: bool = True, **overrides: Any) -> str:
        fields = {"title": f"Event {marker}", **_times(_in(days)), **overrides}
        if publish:
            return await published_event(api, organizer, **fields)
        return await draft_event(api, organizer, **fields)

    workshop = await make(20, category="WORKSHOP", city="Lyon")
    in_paris = await make(10, city="Paris")
    described = await make(
        15, title="Quiet evening", description=f"All about {marker}", city="Lille"
    )
    conference = await make(25, category="CONFERENCE", city="PARIS")
    draft = await make(12, publish=False)
    cancelled = await make(13)
    await api.data(CANCEL_EVENT, {"id": cancelled}, organizer.token)
    completed = await make(14)
    now = datetime.now(UTC)
    await move_event(
        environment.config.database_url, completed, now - timedelta(days=2), now - timedelta(days=1)
    )

    upcoming = [in_paris, described, workshop, conference]
    assert await _found(api, text=marker) == upcoming
    assert await _found(api, text=marker.upper(), status="PUBLISHED") == upcoming
    assert await _found(api, text=f"{marker}%") == []
    assert await _found(api, text=marker, category="WORKSHOP") == [workshop]
    assert await _found(api, text=marker, city=" pArIs ") == [in_paris, conference]
    window = {"startsAfter": _in(12).isoformat(), "startsBefore": _in(22).isoformat()}
    assert await _found(api, text=marker, **window) == [described, workshop]
    assert await _found(api, text=marker, status="CANCELLED") == [cancelled]
    assert await _found(api, text=marker, status="COMPLETED") == [completed]
    assert (await _event(api, completed))["status"] == "COMPLETED"
    assert await _found(api, stranger.token, text=marker, status="DRAFT") == []
    assert await _found(api, organizer.token, text=marker, status="DRAFT") == [draft]


async def test_events_come_page_by_page_without_gaps_or_repeats(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    marker = uuid.uuid4().hex[:12]
    # Created out of order; two start at the same time, so the id breaks the tie.
    now = _in(0)
    starts = [now + timedelta(days=day) for day in (5, 2, 7, 1, 4, 6, 4)]
    created = [
        await published_event(api, organizer, title=f"Paged {marker}", **_times(start))
        for start in starts
    ]
    everything = (await api.data(EVENTS, {"filter": {"text": marker}, "first": 100}))["events"]
    nodes = [edge["node"] for edge in everything["edges"]]
    assert sorted(node["id"] for node in nodes) == sorted(created)
    listed_starts = [datetime.fromisoformat(node["startsAt"]) for node in nodes]
    assert listed_starts == sorted(starts)
    assert everything["pageInfo"]["hasNextPage"] is False

    pages, cursor = [], None
    while True:
        variables = {"filter": {"text": marker}, "first": 3, "after": cursor}
        page = (await api.data(EVENTS, variables))["events"]
        pages.append([edge["node"]["id"] for edge in page["edges"]])
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [event_id for page in pages for event_id in page] == [node["id"] for node in nodes]

    # "WyIyMDI2Il0" is a well-formed cursor of another list: ["2026"].
    bad_pages: list[dict[str, Any]] = [
        {"after": "not-a-cursor"}, {"after": "WyIyMDI2Il0"}, {"first": 0}, {"first": 101}
    ]  # fmt: skip
    for bad in bad_pages:
        variables = {"filter": {"text": marker}, **bad}
        error = await only_error(api, EVENTS, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (bad, error)


async def test_an_organizers_events_are_listed_with_their_name(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment, "Grace Gatherer")
    later = await published_event(api, organizer, title="Later meetup", **_times(_in(40)))
    sooner = await published_event(api, organizer, title="Sooner meetup", **_times(_in(20)))
    data = await api.data(ORGANIZED, {"id": organizer.id})
    nodes = [edge["node"] for edge in data["user"]["organizedEvents"]["edges"]]
    assert nodes == [
        {"id": sooner, "title": "Sooner meetup", "status": "PUBLISHED",
         "organizer": {"name": "Grace Gatherer"}},
        {"id": later, "title": "Later meetup", "status": "PUBLISHED",
         "organizer": {"name": "Grace Gatherer"}},
    ]  # fmt: skip
    someone_else = await sign_up(api)
    nobodys = await api.data(ORGANIZED, {"id": someone_else.id})
    assert nobodys["user"]["organizedEvents"]["edges"] == []


async def test_an_event_is_offered_as_an_icalendar_file(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    title = f"Café, talks; and more {uuid.uuid4().hex[:6]}"
    starts = _in(30)
    event_id = await draft_event(
        api, organizer, title=title, description="Line one\nLine two", **_times(starts, hours=3)
    )

    def entry_of(text: str) -> Any:
        calendar = Calendar.from_ical(text)
        assert calendar.name == "VCALENDAR"
        entries = calendar.walk("VEVENT")
        assert len(entries) == 1, text
        return entries[0]

    # Where calendar apps get it from: the published event, anyone's to read.
    published = await api.data(PUBLISH_CALENDAR, {"id": event_id}, organizer.token)
    assert str(entry_of(published["publishEvent"]["icalendar"])["SUMMARY"]) == title
    entry = entry_of((await api.data(ICALENDAR, {"id": event_id}))["event"]["icalendar"])
    assert str(entry["SUMMARY"]) == title
    assert str(entry["DESCRIPTION"]) == "Line one\nLine two"
    assert entry.decoded("DTSTART") == starts
    assert entry.decoded("DTEND") == starts + timedelta(hours=3)
    assert "La Cantine" in str(entry["LOCATION"]) and "Paris" in str(entry["LOCATION"])
    assert str(entry["STATUS"]) == "CONFIRMED"
    assert str(entry["UID"]) == f"{event_id}@meetinity"

    cancelled = await api.data(CANCEL_CALENDAR, {"id": event_id}, organizer.token)
    assert str(entry_of(cancelled["cancelEvent"]["icalendar"])["STATUS"]) == "CANCELLED"
    entry = entry_of((await api.data(ICALENDAR, {"id": event_id}))["event"]["icalendar"])
    assert str(entry["STATUS"]) == "CANCELLED"
