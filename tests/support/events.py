"""Events for tests, created and published through the router by an organizer."""

from datetime import UTC, datetime, timedelta
from typing import Any

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
