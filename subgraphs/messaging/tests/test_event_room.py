"""EVENT rooms: open to the event's confirmed attendees and its organizer; membership
follows registrations, so a cancelled attendee loses the room."""

import asyncio
from typing import Any

from tests.support.chat import CONVERSATION_EVENTS, DELETE, MESSAGES, SEND, chatters, send
from tests.support.environment import StackEnvironment
from tests.support.events import CANCEL_REGISTRATION, REGISTER, published_event
from tests.support.graphql import GraphQLClient, subscribe
from tests.support.users import with_role
from tests.support.waiting import eventually

OPEN_ROOM = """
mutation Room($eventId: ID!) {
  openEventConversation(eventId: $eventId) {
    id kind title event { id } participants { id }
  }
}
"""


async def _open_room(api: GraphQLClient, token: str, event_id: str) -> dict[str, Any] | None:
    body = await api.execute(OPEN_ROOM, {"eventId": event_id}, token)
    if body.get("errors"):
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
        return None
    room: dict[str, Any] = body["data"]["openEventConversation"]
    return room


async def test_cancelled_attendee_loses_the_event_room(
    api: GraphQLClient, environment: StackEnvironment
) -> None:
    database_url = environment.config.database_url
    organizer = await with_role(api, database_url, "organizer", "Room Organizer")
    event_id = await published_event(api, organizer, capacity=10)
    ann, bob, outsider = await chatters(api, database_url, "Ann Room", "Bob Room", "Out Sider")
    for person in (ann, bob):
        await api.data(REGISTER, {"id": event_id}, person.token)

    async def ann_enters() -> dict[str, Any] | None:
        return await _open_room(api, ann.token, event_id)

    # The room opens once messaging has heard of the registrations and the event.
    room = await eventually(ann_enters, "Ann to enter the room")
    room_id = room["id"]
    assert room["kind"] == "EVENT" and room["event"] == {"id": event_id}

    async def everyone_in() -> bool:
        again = await _open_room(api, ann.token, event_id)
        return again is not None and len(again["participants"]) == 3

    await eventually(everyone_in, "Ann, Bob and the organizer in the room")
    assert (await _open_room(api, bob.token, event_id) or {}).get("id") == room_id
    assert (await _open_room(api, organizer.token, event_id) or {}).get("id") == room_id
    assert await _open_room(api, outsider.token, event_id) is None  # NOT_FOUND
    assert await api.error_code(SEND, {"id": room_id, "body": "Hi"}, outsider.token) == (
        "NOT_FOUND"
    )

    from_ann = await send(api, ann, room_id, "See you all there")
    assert await api.error_code(DELETE, {"id": from_ann["id"]}, bob.token) == "FORBIDDEN"
    async with subscribe(
        environment.router_ws_url, CONVERSATION_EVENTS, {"id": room_id}, ann.token
    ) as watch:
        await asyncio.sleep(0.5)  # the router opens the subgraph's subscription
        await api.data(CANCEL_REGISTRATION, {"id": event_id}, bob.token)
        removed = (await watch.next(within=15))["data"]["conversationEvents"]
        assert removed["kind"] == "MEMBER_REMOVED" and removed["user"]["id"] == bob.id
    assert await api.error_code(MESSAGES, {"id": room_id}, bob.token) == "NOT_FOUND"
    assert await api.error_code(SEND, {"id": room_id, "body": "Wait"}, bob.token) == ("NOT_FOUND")
    # The organizer may delete any message in the room; it stays as a tombstone.
    deleted = await api.data(DELETE, {"id": from_ann["id"]}, organizer.token)
    assert deleted["deleteMessage"]["deleted"] is True
