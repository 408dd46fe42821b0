"""What the messaging subgraph learns from the other subgraphs' streams, and the
notifications it turns that into.

Each stream is read by the shared `StreamConsumer` (consumer group, at least once,
idempotent by event id in the same transaction as the effect, resumes after a crash).
- users: who people are and their email address (`people`);
- events: each registration's status (`event_registrations`), event titles
  (`known_events`), and the notifications for registration outcomes and for events
  moved or cancelled;
- matching: a notification for both people of a new match.
"""

import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.eventbus import DomainEvent, StreamConsumer, stream_name
from shared.pubsub import PubSub
from subgraphs.messaging.models import processed_events
from subgraphs.messaging.notification_models import (
    EventRegistrationRow,
    KnownEventRow,
    PersonRow,
)
from subgraphs.messaging.notifications import NewNotification, NotificationKind, notify

# The consumer group of the notification feed on each stream it reads.
GROUP = "messaging-notifications"

# Registrations that still hold a seat, a waitlist place or a pending request.
LIVE_STATUSES = ("pending_approval", "confirmed", "waitlisted", "checked_in")
# The fields of an event that change where and when people must be.
TIME_AND_PLACE = {
    "starts_at": "time",
    "ends_at": "time",
    "venue_name": "place",
    "venue_address": "place",
    "city": "place",
    "country": "place",
    "online_url": "place",
}


# users stream --------------------------------------------------------------------------


async def remember_people(session: AsyncSession, event: DomainEvent) -> None:
    user_id = uuid.UUID(event.aggregate_id)
    if event.type == "user.registered":
        values = {"name": event.payload["name"], "email": event.payload.get("email")}
    elif event.type == "user.profile_updated":
        values = {"name": event.payload["profile"]["name"]}
        if "email" in event.payload["profile"]:
            values["email"] = event.payload["profile"]["email"]
    else:
        return
    await session.execute(
        insert(PersonRow)
        .values(user_id=user_id, **values)
        .on_conflict_do_update(
            index_elements=[PersonRow.user_id], set_={**values, "updated_at": func.now()}
        )
    )


# events stream -------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f" on {moment:%A %d %B %Y at %H:%M} UTC"


async def _event_title(session: AsyncSession, event_id: uuid.UUID) -> tuple[str, str]:
    """The event's title and " on <date>" (empty when this subgraph does not know it)."""
    known = await session.get(KnownEventRow, event_id)
    if known is None:
        return "an event", ""
    return known.title, _when(known.starts_at)


def registration_notification(
    change: str, status: str, title: str, when: str
) -> tuple[NotificationKind, str, str] | None:
    """The notification a registration change deserves (none for what people did
    themselves, such as registering for an event that needs approval, or cancelling)."""
    match change, status:
        case "CONFIRMED", _:
            return (
                NotificationKind.REGISTRATION_CONFIRMED,
                f"You're in: {title}",
                f"Your seat at {title}{when} is confirmed.",
            )
        case "WAITLISTED", _:
            return (
                NotificationKind.REGISTRATION_WAITLISTED,
                f"On the waitlist: {title}",
                f"{title}{when} is full. You're on the waitlist and will get a seat "
                "as soon as one frees up.",
            )
        case "PROMOTED", _:
            return (
                NotificationKind.REGISTRATION_PROMOTED,
                f"A seat freed up: {title}",
                f"You were on the waitlist for {title}{when}. You now have a seat.",
            )
        case "APPROVED", "waitlisted":
            return (
                NotificationKind.REGISTRATION_APPROVED,
                f"Request approved: {title}",
                f"The organizer approved your request for {title}{when}. The event is "
                "full, so you're on the waitlist.",
            )
        case "APPROVED", _:
            return (
                NotificationKind.REGISTRATION_APPROVED,
                f"Request approved: {title}",
                f"The organizer approved your request for {title}{when}. Your seat is confirmed.",
            )
        case "REJECTED", _:
            return (
                NotificationKind.REGISTRATION_REJECTED,
                f"Request declined: {title}",
                f"The organizer could not offer you a place at {title}{when}.",
            )
        case "EVENT_CANCELLED", _:
            return (
                NotificationKind.EVENT_CANCELLED,
                f"Cancelled: {title}",
                f"{title}{when} has been cancelled by its organizer. Your registration "
                "is cancelled too.",
            )
    return None


async def follow_registration(session: AsyncSession, pubsub: PubSub, event: DomainEvent) -> None:
    payload = event.payload
    registration_id = uuid.UUID(payload["registration_id"])
    event_id, user_id = uuid.UUID(payload["event_id"]), uuid.UUID(payload["user_id"])
    values = {"event_id": event_id, "user_id": user_id, "status": payload["status"]}
    await session.execute(
        insert(EventRegistrationRow)
        .values(registration_id=registration_id, **values)
        .on_conflict_do_update(
            index_elements=[EventRegistrationRow.registration_id],
            set_={**values, "updated_at": func.now()},
        )
    )
    title, when = await _event_title(session, event_id)
    described = registration_notification(payload.get("change", ""), payload["status"], title, when)
    if described is None:
        return
    kind, heading, body = described
    await notify(
        session,
        pubsub,
        [user_id],
        NewNotification(
            kind=kind, title=heading, body=body, event_id=event_id, registration_id=registration_id
        ),
    )


async def remember_event(session: AsyncSession, event: DomainEvent) -> None:
    payload = event.payload
    values: dict[str, object] = {}
    if "title" in payload:
        values["title"] = payload["title"]
    if "starts_at" in payload:
        values["starts_at"] = datetime.fromisoformat(payload["starts_at"])
    if "title" not in values:
        return
    await session.execute(
        insert(KnownEventRow)
        .values(event_id=uuid.UUID(event.aggregate_id), **values)
        .on_conflict_do_update(
            index_elements=[KnownEventRow.event_id], set_={**values, "updated_at": func.now()}
        )
    )


async def event_moved(session: AsyncSession, pubsub: PubSub, event: DomainEvent) -> None:
    """Tells everyone registered when the time or the place of an event changes."""
    what = sorted(
        {TIME_AND_PLACE[name] for name in event.payload["changed"] if name in TIME_AND_PLACE}
    )
    if not what:
        return
    event_id = uuid.UUID(event.aggregate_id)
    attendees = await session.scalars(
        select(EventRegistrationRow.user_id).where(
            EventRegistrationRow.event_id == event_id,
            EventRegistrationRow.status.in_(LIVE_STATUSES),
        )
    )
    title, when = await _event_title(session, event_id)
    changes = " and ".join(what)
    await notify(
        session,
        pubsub,
        attendees,
        NewNotification(
            kind=NotificationKind.EVENT_UPDATED,
            title=f"New {changes}: {title}",
            body=f"The organizer changed the {changes} of {title}. It now takes place{when}; "
            "check the details before you go.",
            event_id=event_id,
        ),
    )


async def follow_events(pubsub: PubSub, session: AsyncSession, event: DomainEvent) -> None:
    if event.type.startswith("registration."):
        await follow_registration(session, pubsub, event)
    elif event.type in ("event.published", "event.updated"):
        await remember_event(session, event)
        if event.type == "event.updated":
            await event_moved(session, pubsub, event)
    # event.cancelled needs nothing more: the events subgraph cancels each live
    # registration first, and each of those (change EVENT_CANCELLED) told its person.


# matching stream -----------------------------------------------------------------------


async def announce_match(pubsub: PubSub, session: AsyncSession, event: DomainEvent) -> None:
    if event.type != "match.created":
        return
    payload = event.payload
    match_id = uuid.UUID(payload["match_id"])
    first, second = (uuid.UUID(user_id) for user_id in payload["user_ids"])
    names = dict(
        (
            await session.execute(
                select(PersonRow.user_id, PersonRow.name).where(
                    PersonRow.user_id.in_([first, second])
                )
            )
        ).all()
    )
    event_id = None if payload.get("event_id") is None else uuid.UUID(payload["event_id"])
    where = ""
    if event_id is not None:
        title, _ = await _event_title(session, event_id)
        where = f" at {title}"
    for person, other in ((first, second), (second, first)):
        other_name = names.get(other, "someone")
        await notify(
            session,
            pubsub,
            [person],
            NewNotification(
                kind=NotificationKind.NEW_MATCH,
                title=f"New match: {other_name}",
                body=f"You and {other_name} should meet{where}. Say hello!",
                match_id=match_id,
                event_id=event_id,
            ),
        )


# Running them --------------------------------------------------------------------------

Handler = Callable[[AsyncSession, DomainEvent], Awaitable[None]]


def _consumer(app: FastAPI, producer: str, handler: Handler) -> StreamConsumer:
    return StreamConsumer(
        app.state.db,
        processed_events,
        app.state.redis,
        stream_name(app.state.settings.redis_prefix, producer),
        group=GROUP,
        consumer=f"{GROUP}-{socket.gethostname()}-{os.getpid()}",
        handler=handler,
        service="messaging",
    )


async def follow_users_stream(app: FastAPI) -> None:
    await _consumer(app, "users", remember_people).run()


async def follow_events_stream(app: FastAPI) -> None:
    await _consumer(app, "events", partial(follow_events, app.state.pubsub)).run()


async def follow_matching_stream(app: FastAPI) -> None:
    await _consumer(app, "matching", partial(announce_match, app.state.pubsub)).run()
