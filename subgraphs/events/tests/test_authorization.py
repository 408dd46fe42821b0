"""Who may do what with events, through the router: members attend, organizers manage their
own events only, admins manage any; attendee lists, registrations, drafts and ticket codes
are shown only to the people they concern."""

import uuid
from typing import Any

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
    UPDATE,
    draft_event,
    event_input,
    published_event,
    register,
)
from tests.support.graphql import GraphQLClient
from tests.support.users import Person, sign_up, with_role
from tests.support.waiting import eventually

ATTENDEES = """
query Attendees($id: ID!) {
  event(id: $id) { attendees { edges { node { user { id } ticketCode } } } }
}
"""
EVENT_REGISTRATIONS = """
query Registrations($id: ID!, $status: RegistrationStatus) {
  event(id: $id) { registrations(status: $status) { edges { node { user { id } status } } } }
}
"""
USER_REGISTRATIONS = """
query UserRegistrations($id: ID!) {
  user(id: $id) { registrations { edges { node { status event { id } } } } }
}
"""
MY_REGISTRATIONS = "{ me { registrations { edges { node { status event { id } } } } } }"
ORGANIZED = """
query Organized($id: ID!) { user(id: $id) { organizedEvents { edges { node { id status } } } } }
"""
EVENTS_WITH_STATUS = """
query Events($text: String!, $status: EventStatus!) {
  events(filter: {text: $text, status: $status}) { edges { node { id } } }
}
"""
UPDATE_PROFILE = """
mutation Private($visibility: ProfileVisibility!) {
  updateProfile(input: {visibility: $visibility}) { profile { visibility } }
}
"""


async def _organizer(api: GraphQLClient, environment: StackEnvironment) -> Person:
    return await with_role(api, environment.config.database_url, "organizer")


async def _admin(api: GraphQLClient, environment: StackEnvironment) -> Person:
    return await with_role(api, environment.config.database_url, "admin")


async def _event(api: GraphQLClient, event_id: str, token: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = (await api.data(EVENT, {"id": event_id}, token))["event"]
    return event


async def _attendee_ids(api: GraphQLClient, event_id: str, viewer: Person) -> set[str]:
    event = (await api.data(ATTENDEES, {"id": event_id}, viewer.token))["event"]
    return {edge["node"]["user"]["id"] for edge in event["attendees"]["edges"]}


async def _listed(api: GraphQLClient, event_id: str, viewer: Person, user_id: str) -> bool:
    return user_id in await _attendee_ids(api, event_id, viewer)


async def _hidden(api: GraphQLClient, event_id: str, viewer: Person, user_id: str) -> bool:
    return not await _listed(api, event_id, viewer, user_id)


async def _known_to_events(api: GraphQLClient, event_id: str, *people: Person) -> None:
    """Waits until fellow attendees see `people`: the events subgraph hides whoever it has
    not yet heard of from the users' domain events (privacy fails closed)."""
    ids = {person.id for person in people}

    async def all_listed() -> bool:
        return ids <= await _attendee_ids(api, event_id, people[0])

    await eventually(all_listed, "the events subgraph to learn of new people")


async def _registered_ids(
    api: GraphQLClient, event_id: str, viewer: Person, status: str | None = None
) -> dict[str, str]:
    variables = {"id": event_id, "status": status}
    event = (await api.data(EVENT_REGISTRATIONS, variables, viewer.token))["event"]
    return {
        edge["node"]["user"]["id"]: edge["node"]["status"]
        for edge in event["registrations"]["edges"]
    }


def _registration_events(connection: dict[str, Any]) -> list[tuple[str, str]]:
    return [(edge["node"]["event"]["id"], edge["node"]["status"]) for edge in connection["edges"]]


async def test_anonymous_callers_must_sign_in_to_change_anything(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer)
    assert await api.error_code(CREATE, {"input": event_input()}) == "UNAUTHENTICATED"
    assert await api.error_code(UPDATE, {"id": event_id, "input": {"title": "Hijacked"}}) == (
        "UNAUTHENTICATED"
    )
    assert await api.error_code(PUBLISH, {"id": event_id}) == "UNAUTHENTICATED"
    assert await api.error_code(CANCEL_EVENT, {"id": event_id}) == "UNAUTHENTICATED"
    assert await api.error_code(CHECK_IN, {"ticketCode": "anything"}) == "UNAUTHENTICATED"
    assert await api.error_code(REGISTER, {"id": event_id}) == "UNAUTHENTICATED"
    assert await api.error_code(CANCEL_REGISTRATION, {"id": event_id}) == "UNAUTHENTICATED"
    assert (await _event(api, event_id))["title"] == "Paris Python Night"


async def test_a_member_cannot_create_publish_change_cancel_approve_or_check_in(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    member = await sign_up(api, "Mere Member")
    assert await api.error_code(CREATE, {"input": event_input()}, member.token) == "FORBIDDEN"
    organized = await api.data(ORGANIZED, {"id": member.id}, member.token)
    assert organized["user"]["organizedEvents"]["edges"] == []

    draft_id = await draft_event(api, organizer)
    assert await api.error_code(PUBLISH, {"id": draft_id}, member.token) == "FORBIDDEN"
    assert (await _event(api, draft_id, organizer.token))["status"] == "DRAFT"

    event_id = await published_event(api, organizer, requiresApproval=True)
    change = {"id": event_id, "input": {"title": "Hijacked"}}
    assert await api.error_code(UPDATE, change, member.token) == "FORBIDDEN"
    assert await api.error_code(CANCEL_EVENT, {"id": event_id}, member.token) == "FORBIDDEN"

    # Even their own request: members can neither approve it nor reject it themselves.
    request = await register(api, event_id, member)
    assert request["status"] == "PENDING_APPROVAL"
    assert await api.error_code(APPROVE, {"id": request["id"]}, member.token) == "FORBIDDEN"
    assert await api.error_code(REJECT, {"id": request["id"]}, member.token) == "FORBIDDEN"

    approved = await api.data(APPROVE, {"id": request["id"]}, organizer.token)
    assert approved["approveRegistration"]["status"] == "CONFIRMED"
    ticket = approved["approveRegistration"]["ticketCode"]
    by_id = {"registrationId": request["id"]}
    assert await api.error_code(CHECK_IN, by_id, member.token) == "FORBIDDEN"
    assert await api.error_code(CHECK_IN, {"ticketCode": ticket}, member.token) == "FORBIDDEN"

    event = await _event(api, event_id, organizer.token)
    assert (event["title"], event["status"]) == ("Paris Python Night", "PUBLISHED")
    assert (await _registered_ids(api, event_id, organizer)) == {member.id: "CONFIRMED"}


async def test_an_organizer_cannot_manage_another_organizers_event_but_an_admin_can(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    owner, other = await _organizer(api, environment), await _organizer(api, environment)
    admin = await _admin(api, environment)
    event_id = await published_event(api, owner, requiresApproval=True, capacity=10)
    first, second = await sign_up(api), await sign_up(api)
    to_approve = await register(api, event_id, first)
    to_reject = await register(api, event_id, second)

    assert await api.error_code(APPROVE, {"id": to_approve["id"]}, other.token) == "FORBIDDEN"
    assert await api.error_code(REJECT, {"id": to_reject["id"]}, other.token) == "FORBIDDEN"
    assert await _registered_ids(api, event_id, owner) == {
        first.id: "PENDING_APPROVAL",
        second.id: "PENDING_APPROVAL",
    }
    approved = (await api.data(APPROVE, {"id": to_approve["id"]}, admin.token))[
        "approveRegistration"
    ]
    assert approved["status"] == "CONFIRMED"
    rejected = await api.data(REJECT, {"id": to_reject["id"]}, admin.token)
    assert rejected["rejectRegistration"]["status"] == "REJECTED"

    by_id = {"registrationId": to_approve["id"]}
    by_code = {"ticketCode": approved["ticketCode"]}
    assert await api.error_code(CHECK_IN, by_id, other.token) == "FORBIDDEN"
    assert await api.error_code(CHECK_IN, by_code, other.token) == "FORBIDDEN"
    assert (await api.data(CHECK_IN, by_code, admin.token))["checkIn"]["status"] == "CHECKED_IN"

    change = {"id": event_id, "input": {"title": "Taken over"}}
    assert await api.error_code(UPDATE, change, other.token) == "FORBIDDEN"
    assert (await _event(api, event_id))["title"] == "Paris Python Night"
    await api.data(UPDATE, {"id": event_id, "input": {"title": "Renamed by an admin"}}, admin.token)
    assert (await _event(api, event_id))["title"] == "Renamed by an admin"

    draft_id = await draft_event(api, owner)
    assert await api.error_code(PUBLISH, {"id": draft_id}, other.token) == "FORBIDDEN"
    assert (await _event(api, draft_id, owner.token))["status"] == "DRAFT"
    assert (await api.data(PUBLISH, {"id": draft_id}, admin.token))["publishEvent"]["status"] == (
        "PUBLISHED"
    )

    assert await api.error_code(CANCEL_EVENT, {"id": event_id}, other.token) == "FORBIDDEN"
    assert (await _event(api, event_id))["status"] == "PUBLISHED"
    cancelled = await api.data(CANCEL_EVENT, {"id": event_id}, admin.token)
    assert cancelled["cancelEvent"]["status"] == "CANCELLED"


async def test_attendees_are_listed_to_the_organizer_and_confirmed_attendees_only(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer, capacity=2)
    seated, checked_in, waiting, left, outsider = [await sign_up(api) for _ in range(5)]
    await register(api, event_id, seated)
    ticket = (await register(api, event_id, checked_in))["ticketCode"]
    await api.data(CHECK_IN, {"ticketCode": ticket}, organizer.token)
    assert (await register(api, event_id, waiting))["status"] == "WAITLISTED"
    assert (await register(api, event_id, left))["status"] == "WAITLISTED"
    await api.data(CANCEL_REGISTRATION, {"id": event_id}, left.token)

    assert await api.error_code(ATTENDEES, {"id": event_id}) == "UNAUTHENTICATED"
    for stranger in (outsider, waiting, left):
        assert await api.error_code(ATTENDEES, {"id": event_id}, stranger.token) == "FORBIDDEN"
    everyone = {seated.id, checked_in.id}
    await _known_to_events(api, event_id, seated, checked_in)
    for insider in (organizer, seated, checked_in):
        assert await _attendee_ids(api, event_id, insider) == everyone


async def test_people_with_a_private_profile_are_listed_to_the_organizer_alone(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer, admin = await _organizer(api, environment), await _admin(api, environment)
    event_id = await published_event(api, organizer)
    shy, open_, fellow = await sign_up(api), await sign_up(api), await sign_up(api)
    for person in (shy, open_, fellow):
        await register(api, event_id, person)
    await _known_to_events(api, event_id, shy, open_, fellow)
    assert await _attendee_ids(api, event_id, fellow) == {shy.id, open_.id, fellow.id}

    await api.data(UPDATE_PROFILE, {"visibility": "PRIVATE"}, shy.token)
    # The events subgraph learns of it from the users' domain events, a moment later.
    await eventually(
        lambda: _hidden(api, event_id, fellow, shy.id), "the private profile to leave the list"
    )

    assert await _attendee_ids(api, event_id, fellow) == {open_.id, fellow.id}
    assert await _attendee_ids(api, event_id, open_) == {open_.id, fellow.id}
    assert await _attendee_ids(api, event_id, organizer) == {shy.id, open_.id, fellow.id}
    assert await _attendee_ids(api, event_id, admin) == {shy.id, open_.id, fellow.id}

    # Going public again lists them again.
    await api.data(UPDATE_PROFILE, {"visibility": "PUBLIC"}, shy.token)
    await eventually(
        lambda: _listed(api, event_id, fellow, shy.id), "the public profile to be listed again"
    )


async def test_an_events_registrations_are_for_its_organizer_and_admins(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer, other = await _organizer(api, environment), await _organizer(api, environment)
    admin = await _admin(api, environment)
    event_id = await published_event(api, organizer, capacity=1)
    seated, waiting = await sign_up(api), await sign_up(api)
    await register(api, event_id, seated)
    await register(api, event_id, waiting)

    query = {"id": event_id, "status": None}
    assert await api.error_code(EVENT_REGISTRATIONS, query) == "UNAUTHENTICATED"
    for outsider in (seated, waiting, other):
        assert await api.error_code(EVENT_REGISTRATIONS, query, outsider.token) == "FORBIDDEN"
    everyone = {seated.id: "CONFIRMED", waiting.id: "WAITLISTED"}
    assert await _registered_ids(api, event_id, organizer) == everyone
    assert await _registered_ids(api, event_id, admin) == everyone
    waitlist = await _registered_ids(api, event_id, organizer, "WAITLISTED")
    assert waitlist == {waiting.id: "WAITLISTED"}


async def test_a_persons_registrations_are_for_them_and_admins(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer, admin = await _organizer(api, environment), await _admin(api, environment)
    person, stranger = await sign_up(api), await sign_up(api)
    first_id = await published_event(api, organizer)
    second_id = await published_event(api, organizer, requiresApproval=True)
    await register(api, first_id, person)
    await register(api, second_id, person)
    expected = [(first_id, "CONFIRMED"), (second_id, "PENDING_APPROVAL")]

    mine = await api.data(MY_REGISTRATIONS, token=person.token)
    assert _registration_events(mine["me"]["registrations"]) == expected
    for viewer in (person, admin):
        theirs = await api.data(USER_REGISTRATIONS, {"id": person.id}, viewer.token)
        assert _registration_events(theirs["user"]["registrations"]) == expected

    assert await api.error_code(USER_REGISTRATIONS, {"id": person.id}) == "UNAUTHENTICATED"
    # Organizing the events someone registered for is no reason to see all their plans.
    for outsider in (stranger, organizer):
        code = await api.error_code(USER_REGISTRATIONS, {"id": person.id}, outsider.token)
        assert code == "FORBIDDEN"


async def test_drafts_are_invisible_to_everyone_but_their_organizer_and_admins(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer, other = await _organizer(api, environment), await _organizer(api, environment)
    admin, member = await _admin(api, environment), await sign_up(api)
    marker = uuid.uuid4().hex[:12]
    draft_id = await draft_event(api, organizer, title=f"Secret plans {marker}")

    assert await api.error_code(EVENT, {"id": draft_id}) == "NOT_FOUND"
    for outsider in (member, other):
        assert await api.error_code(EVENT, {"id": draft_id}, outsider.token) == "NOT_FOUND"
        assert await api.error_code(REGISTER, {"id": draft_id}, outsider.token) == "NOT_FOUND"
    for insider in (organizer, admin):
        assert (await _event(api, draft_id, insider.token))["status"] == "DRAFT"

    drafts = {"text": marker, "status": "DRAFT"}
    assert (await api.data(EVENTS_WITH_STATUS, drafts))["events"]["edges"] == []
    assert (await api.data(EVENTS_WITH_STATUS, drafts, other.token))["events"]["edges"] == []
    own = await api.data(EVENTS_WITH_STATUS, drafts, organizer.token)
    assert own["events"]["edges"] == [{"node": {"id": draft_id}}]

    published_id = await published_event(api, organizer, title=f"Public plans {marker}")
    for token in (None, other.token):
        seen = await api.data(ORGANIZED, {"id": organizer.id}, token)
        assert seen["user"]["organizedEvents"]["edges"] == [
            {"node": {"id": published_id, "status": "PUBLISHED"}}
        ]
    seen = await api.data(ORGANIZED, {"id": organizer.id}, organizer.token)
    ids = {edge["node"]["id"] for edge in seen["user"]["organizedEvents"]["edges"]}
    assert ids == {draft_id, published_id}


async def test_ticket_codes_are_shown_to_their_holder_and_the_organizer_only(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    organizer = await _organizer(api, environment)
    event_id = await published_event(api, organizer, capacity=2)
    holder, fellow, waiting = await sign_up(api), await sign_up(api), await sign_up(api)
    holder_code = (await register(api, event_id, holder))["ticketCode"]
    fellow_code = (await register(api, event_id, fellow))["ticketCode"]
    assert holder_code and fellow_code and holder_code != fellow_code
    # A waitlist place is no ticket.
    assert (await register(api, event_id, waiting))["ticketCode"] is None
    await _known_to_events(api, event_id, holder, fellow)

    async def codes_seen_by(viewer: Person) -> dict[str, str | None]:
        event = (await api.data(ATTENDEES, {"id": event_id}, viewer.token))["event"]
        edges = event["attendees"]["edges"]
        return {edge["node"]["user"]["id"]: edge["node"]["ticketCode"] for edge in edges}

    assert await codes_seen_by(holder) == {holder.id: holder_code, fellow.id: None}
    assert await codes_seen_by(fellow) == {holder.id: None, fellow.id: fellow_code}
    assert await codes_seen_by(organizer) == {holder.id: holder_code, fellow.id: fellow_code}
