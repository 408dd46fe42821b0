"""What the messaging subgraph learns from the other subgraphs' streams, and the
notifications it turns that into.

Each stream is read by the shared `StreamConsumer` (consumer group, at least once,
idempotent by event id in the same transaction as the effect, resumes after a crash).
- users: who people are and their email address (`notification_recipients`);
- events: each registration's status (`event_registrations`), event titles
  (`known_events`), and the notifications for registration outcomes and for events
  moved or cancelled;
- matching: a notification for both people of a new match, and their DIRECT
  conversation, linked to the match (`Match.conversation`).

Registrations also decide who is in an event's chat room (`rooms.py`).
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from fastapi import FastAPI
from sqlalchemy import Row, Select, case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.app import BackgroundJob
from shared.db import after_commit
from shared.eventbus import DomainEvent, consume
from shared.pubsub import PubSub
from subgraphs.messaging import live, rooms
from subgraphs.messaging.conversations import direct_conversation
from subgraphs.messaging.models import BlockRow, MatchConversationRow, processed_events
from subgraphs.messaging.notification_models import (
    EventRegistrationRow,
    KnownEventRow,
    RecipientRow,
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


async def remember_recipients(session: AsyncSession, event: DomainEvent) -> None:
    """Who people are (name, avatar, email), newest version winning field by field."""
    if event.type == "user.registered":
        changed = {key: event.payload.get(key) for key in ("name", "avatar_url", "email")}
    elif event.type == "user.profile_updated":
        changed = {
            key: value
            for key, value in event.payload.get("changed", {}).items()
            if key in ("name", "avatar_url")
        }
    else:
        return
    if not changed:
        return
    upsert = insert(RecipientRow).values(
        user_id=uuid.UUID(event.aggregate_id),
        name=changed.get("name") or "",
        avatar_url=changed.get("avatar_url"),
        email=changed.get("email"),
        version=event.version,
    )
    newer = RecipientRow.version < upsert.excluded.version
    updates = {
        field: case((newer, getattr(upsert.excluded, field)), else_=getattr(RecipientRow, field))
        for field in ("name", "avatar_url")
        if field in changed
    }
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[RecipientRow.user_id],
            set_={
                **updates,
                # Only the sign-up carries the address: keep it whatever order events come in.
                "email": func.coalesce(upsert.excluded.email, RecipientRow.email),
                "version": func.greatest(RecipientRow.version, upsert.excluded.version),
                "updated_at": func.now(),
            },
        )
    )


async def remember_block(session: AsyncSession, event: DomainEvent) -> None:
    """Who blocks whom (the chat refuses a DIRECT conversation between them). The
    version is the blocker's: a late, older event never undoes a newer one."""
    upsert = insert(BlockRow).values(
        blocker_id=uuid.UUID(event.payload["blocker_id"]),
        blocked_id=uuid.UUID(event.payload["blocked_id"]),
        blocked=event.type == "user.blocked",
        version=event.version,
    )
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[BlockRow.blocker_id, BlockRow.blocked_id],
            set_={"blocked": upsert.excluded.blocked, "version": upsert.excluded.version},
            where=BlockRow.version < upsert.excluded.version,
        )
    )


async def follow_users(session: AsyncSession, event: DomainEvent) -> None:
    if event.type in ("user.blocked", "user.unblocked"):
        await remember_block(session, event)
    else:
        await remember_recipients(session, event)


# events stream -------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return "" if moment is None else f" on {moment:%A %d %B %Y at %H:%M} UTC"


def _known_event(event_id: uuid.UUID) -> Select[str, datetime | None]:
    return select(KnownEventRow.title, KnownEventRow.starts_at).where(
        KnownEventRow.event_id == event_id
    )


def _title_and_when(known: Row[str, datetime | None] | None) -> tuple[str, str]:
    """The event's title and " on <date>" (empty when this subgraph does not know it)."""
    if known is None:
        return "an event", ""
    title, starts_at = known
    return title, _when(starts_at)


async def _event_title(session: AsyncSession, event_id: uuid.UUID) -> tuple[str, str]:
    return _title_and_when((await session.execute(_known_event(event_id))).first())


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
    values = {
        "event_id": event_id,
        "user_id": user_id,
        "status": payload["status"],
        "version": event.version,
    }
    upsert = insert(EventRegistrationRow).values(registration_id=registration_id, **values)
    applied = upsert.on_conflict_do_update(
        index_elements=[EventRegistrationRow.registration_id],
        set_={**values, "updated_at": func.now()},
        where=EventRegistrationRow.version < upsert.excluded.version,
    ).cte("applied")
    # The projection and the event's title in one round trip (a hot path: every
    # registration comes through here).
    known = (await session.execute(_known_event(event_id).add_cte(applied))).first()
    await rooms.follow_registration(session, pubsub, event_id, user_id)
    title, when = _title_and_when(known)
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
    if "title" not in payload:
        return  # an event.updated from before it carried the title
    values = {
        "title": payload["title"],
        "starts_at": datetime.fromisoformat(payload["starts_at"]),
        "version": event.version,
    }
    if "organizer_id" in payload:  # event.published names the organizer (event rooms)
        values["organizer_id"] = uuid.UUID(payload["organizer_id"])
    upsert = insert(KnownEventRow).values(event_id=uuid.UUID(event.aggregate_id), **values)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[KnownEventRow.event_id],
            set_={**values, "updated_at": func.now()},
            where=KnownEventRow.version < upsert.excluded.version,
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
                select(RecipientRow.user_id, RecipientRow.name).where(
                    RecipientRow.user_id.in_([first, second])
                )
            )
        ).all()
    )
    event_id = None if payload.get("event_id") is None else uuid.UUID(payload["event_id"])
    # Their DIRECT conversation, ready for the first hello (the one they have, if any).
    conversation, created = await direct_conversation(session, first, second)
    # What `Match.conversation` resolves (a redelivered event finds it there already).
    await session.execute(
        insert(MatchConversationRow)
        .values(match_id=match_id, conversation_id=conversation.id)
        .on_conflict_do_nothing()
    )
    if created:

        async def announce() -> None:
            await live.publish_inbox_event(pubsub, [first, second], conversation.id, "ADDED", 0)

        after_commit(session, announce)
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
                conversation_id=conversation.id,
            ),
        )


# Running them --------------------------------------------------------------------------

LiveHandler = Callable[[PubSub, AsyncSession, DomainEvent], Awaitable[None]]


def _consume(producer: str, handler: LiveHandler) -> BackgroundJob:
    """The shared consumer job (consumer name, redelivery, dead letters, supervision),
    with a handler that also needs the app's pub/sub to announce notifications."""

    async def run(app: FastAPI) -> None:
        await consume(
            producer,
            partial(handler, app.state.pubsub),
            processed=processed_events,
            group=GROUP,
        )(app)

    run.__name__ = f"consume_{producer}_events"
    return run


follow_users_stream = consume("users", follow_users, processed=processed_events, group=GROUP)
follow_events_stream = _consume("events", follow_events)
follow_matching_stream = _consume("matching", announce_match)
