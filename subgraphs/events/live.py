"""Live updates of seats and registrations, published on Redis once a change committed."""

import uuid
from typing import Any

from shared.pubsub import PubSub
from subgraphs.events.models import EventRow, outbox


def seats_channel(event_id: uuid.UUID | str) -> str:
    return f"event-seats:{event_id}"


def registrations_channel(user_id: uuid.UUID | str) -> str:
    return f"registrations:{user_id}"


def seats_snapshot(event: EventRow) -> dict[str, Any]:
    return {
        "event_id": str(event.id),
        "capacity": event.capacity,
        "seats_taken": event.seats_taken,
        "waitlist_length": event.waitlist_length,
        "version": event.seats_version,
    }


async def announce(
    pubsub: PubSub, changes: list[dict[str, Any]], event: EventRow | None, seats_changed: bool
) -> None:
    """After a seat-changing function committed: wakes the outbox relay, then tells each
    person whose registration changed and, if the counts changed, the event's watchers."""
    outbox.wakeup.set()
    updates = [(registrations_channel(payload["user_id"]), payload) for payload in changes]
    if seats_changed and event is not None:
        updates.append((seats_channel(event.id), seats_snapshot(event)))
    await pubsub.publish_each(updates)
