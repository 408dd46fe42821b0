"""Events for tests, created and published through the router by an organizer."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.support.graphql import GraphQLClient
from tests.support.users import Person

CREATE = """
mutation Create($input: EventInput!) { createEvent(input: $input) { id status } }
"""
PUBLISH = "mutation Publish($id: ID!) { publishEvent(id: $id) { id status } }"
REGISTER = """
mutation Register($id: ID!) {
  registerForEvent(eventId: $id) { id status waitlistPosition ticketCode createdAt confirmedAt }
}
"""
CANCEL_REGISTRATION = """
mutation CancelRegistration($id: ID!) { cancelRegistration(eventId: $id) { id status } }
"""
SEATS = """
query Seats($id: ID!) { event(id: $id) { capacity seatsTaken seatsLeft waitlistLength } }
"""
UPDATE = """
mutation Update($id: ID!, $input: EventInput!) { updateEvent(id: $id, input: $input) { id } }
"""
CANCEL_EVENT = "mutation CancelEvent($id: ID!) { cancelEvent(id: $id) { id status } }"
APPROVE = """
mutation Approve($id: ID!) { approveRegistration(registrationId: $id) { id status ticketCode } }
"""
REJECT = "mutation Reject($id: ID!) { rejectRegistration(registrationId: $id) { id status } }"
CHECK_IN = """
mutation CheckIn($registrationId: ID, $ticketCode: String) {
  checkIn(registrationId: $registrationId, ticketCode: $ticketCode) { id status checkedInAt }
}
"""
EVENT = """
query Event($id: ID!) {
  event(id: $id) {
    id title description category tags startsAt endsAt
    venue { name address city country } onlineUrl capacity coverImageUrl
    registrationOpensAt registrationClosesAt requiresApproval status
    seatsTaken seatsLeft waitlistLength
  }
}
"""
MY_REGISTRATION = """
query Mine($id: ID!) {
  event(id: $id) {
    myRegistration { id status waitlistPosition ticketCode confirmedAt checkedInAt cancelledAt }
  }
}
"""


def event_input(**overrides: Any) -> dict[str, Any]:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    return {
        "title": "Paris Python Night",
        "description": "Talks and drinks",
        "category": "MEETUP",
        "tags": ["python", "community"],
        "startsAt": starts.isoformat(),
        "endsAt": (starts + timedelta(hours=3)).isoformat(),
        "venueName": "La Cantine",
        "venueAddress": "151 rue Montmartre",
        "city": "Paris",
        "country": "FR",
        "capacity": 50,
        **overrides,
    }


async def draft_event(api: GraphQLClient, organizer: Person, **overrides: Any) -> str:
    created = await api.data(CREATE, {"input": event_input(**overrides)}, organizer.token)
    event_id: str = created["createEvent"]["id"]
    return event_id


async def published_event(api: GraphQLClient, organizer: Person, **overrides: Any) -> str:
    event_id = await draft_event(api, organizer, **overrides)
    await api.data(PUBLISH, {"id": event_id}, organizer.token)
    return event_id


async def register(api: GraphQLClient, event_id: str, person: Person) -> dict[str, Any]:
    """The person's registration for the event (which must not be refused)."""
    registration: dict[str, Any] = (await api.data(REGISTER, {"id": event_id}, person.token))[
        "registerForEvent"
    ]
    return registration


async def my_registration(
    api: GraphQLClient, event_id: str, person: Person
) -> dict[str, Any] | None:
    """The person's latest registration for the event, as they see it."""
    event: dict[str, Any] = (await api.data(MY_REGISTRATION, {"id": event_id}, person.token))[
        "event"
    ]
    registration: dict[str, Any] | None = event["myRegistration"]
    return registration


async def only_error(
    api: GraphQLClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    """The one error a refused operation answers (message, extensions), checked to have no data."""
    body = await api.execute(query, variables, token)
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    assert not any((body.get("data") or {}).values()), body
    error: dict[str, Any] = errors[0]
    return error


async def move_event(
    database_url: str, event_id: str, starts_at: datetime, ends_at: datetime
) -> None:
    """Moves an event in time directly in the database: the API refuses to publish an event
    in the past, yet events do start and end."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE events.events SET starts_at = $1, ends_at = $2 WHERE id = $3",
            starts_at,
            ends_at,
            uuid.UUID(event_id),
        )
    finally:
        await connection.close()
