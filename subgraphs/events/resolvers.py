"""Events: what the events mutations and queries do (registrations: `registrations.py`).

Every change to an event's seats happens while holding that event's row lock
(SELECT … FOR UPDATE), so registrations, cancellations, approvals and capacity
changes of one event apply one after the other, and the seat counters on the
event row always match its registrations. The CHECK constraint on that row is the
last line of defence: PostgreSQL itself refuses an overbooked event. The hot ones
(registrations, and the promotion after a capacity change) are PostgreSQL functions;
see `registrations.py`.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, Role
from shared.db import after_commit
from shared.errors import BadUserInput, Conflict, Forbidden, NotFound
from shared.pagination import after, cursor_values
from shared.pubsub import PubSub
from shared.validation import validate_input
from subgraphs.events.live import announce, registrations_channel, seats_channel, seats_snapshot
from subgraphs.events.models import LIVE_STATUSES, EventRow, RegistrationRow, outbox
from subgraphs.events.validation import EventFields, check_consistency

EVENT_FIELDS = tuple(EventFields.model_fields)


def is_manager(event: EventRow, viewer: Principal | None) -> bool:
    return viewer is not None and (viewer.user_id == event.organizer_id or viewer.is_admin)


def _require_manager(event: EventRow, viewer: Principal) -> None:
    if not is_manager(event, viewer):
        raise Forbidden("Only the event's organizer or an admin can do this")


def _now() -> datetime:
    return datetime.now(UTC)


class EventWriter:
    """One transaction's changes to an event and its registrations, with their
    domain events (outbox) and live updates (published once committed)."""

    def __init__(self, session: AsyncSession, pubsub: PubSub) -> None:
        self.session = session
        self.pubsub = pubsub
        self._announced: set[uuid.UUID] = set()

    async def record(
        self, event_type: str, row: EventRow | RegistrationRow, payload: dict[str, Any]
    ) -> None:
        """A domain event about `row`, carrying the row's version after this change."""
        await self.session.flush()  # SQLAlchemy bumps `version` as it flushes the change
        await outbox.record(self.session, event_type, row.id, payload, version=row.version)

    async def lock(self, event_id: uuid.UUID) -> EventRow:
        event = await self.session.get(EventRow, event_id, with_for_update=True)
        if event is None:
            raise NotFound("No such event")
        return event

    def seats_changed(self, event: EventRow) -> None:
        """Announces the event's counts once committed (once per transaction)."""
        if event.id in self._announced:
            return
        self._announced.add(event.id)
        event.seats_version += 1

        async def publish() -> None:
            # Runs after the commit: the row holds the committed counts.
            await self.pubsub.publish(seats_channel(event.id), seats_snapshot(event))

        after_commit(self.session, publish)

    async def registration_changed(
        self, registration: RegistrationRow, event_type: str, change: str
    ) -> None:
        payload = {
            "registration_id": str(registration.id),
            "event_id": str(registration.event_id),
            "user_id": str(registration.user_id),
            "status": registration.status,
            "change": change,
        }
        await self.record(event_type, registration, payload)

        async def publish() -> None:
            await self.pubsub.publish(registrations_channel(registration.user_id), payload)

        after_commit(self.session, publish)


# Events -------------------------------------------------------------------------------


def _columns(fields: EventFields) -> dict[str, Any]:
    values = fields.model_dump()
    for url_field in ("online_url", "cover_image_url"):
        if values[url_field] is not None:
            values[url_field] = str(values[url_field])
    return values


def _current_fields(event: EventRow) -> dict[str, Any]:
    return {name: getattr(event, name) for name in EVENT_FIELDS}


async def create_event(
    session: AsyncSession, viewer: Principal, changes: dict[str, Any]
) -> EventRow:
    viewer.require_role(Role.ORGANIZER)
    fields = validate_input(EventFields, changes)
    check_consistency(fields)
    event = EventRow(organizer_id=viewer.user_id, status="draft", **_columns(fields))
    session.add(event)
    await session.flush()
    await session.refresh(event)
    return event


async def update_event(
    writer: EventWriter, viewer: Principal, event_id: uuid.UUID, changes: dict[str, Any]
) -> EventRow:
    event = await writer.lock(event_id)
    _require_manager(event, viewer)
    if event.status == "cancelled":
        raise Conflict("A cancelled event cannot be changed", reason="EVENT_CANCELLED")
    fields = validate_input(EventFields, {**_current_fields(event), **changes})
    check_consistency(fields)
    if fields.capacity is not None and fields.capacity < event.seats_taken:
        raise BadUserInput(
            f"capacity cannot go below the {event.seats_taken} seats already taken",
            fields={"capacity": f"must be at least {event.seats_taken}"},
        )
    new_values = _columns(fields)
    changed = [name for name, value in new_values.items() if getattr(event, name) != value]
    for name in changed:
        setattr(event, name, new_values[name])
    if "capacity" in changed:
        await writer.session.flush()
        # More seats may go to people on the waitlist: the same function as a cancellation.
        filled = (
            await writer.session.execute(
                text("SELECT * FROM events.fill_freed_seats(:event_id)"), {"event_id": event.id}
            )
        ).one()
        # The function changed the row (counts, versions): read it back before anything
        # else uses the event's version.
        await writer.session.refresh(event)

        async def announce_filled_seats() -> None:
            await announce(writer.pubsub, filled.changes, event, seats_changed=True)

        after_commit(writer.session, announce_filled_seats)
    if changed and event.status == "published":
        # Title and start ride along so consumers (messaging's notifications) can say
        # which event moved and to when without asking for the event.
        await writer.record(
            "event.updated",
            event,
            {"changed": changed, "event_id": str(event.id), "title": event.title,
             "starts_at": event.starts_at.isoformat()},
        )  # fmt: skip
    await writer.session.flush()
    await writer.session.refresh(event)
    return event


async def publish_event(writer: EventWriter, viewer: Principal, event_id: uuid.UUID) -> EventRow:
    event = await writer.lock(event_id)
    _require_manager(event, viewer)
    if event.status == "published":
        return event
    if event.status == "cancelled":
        raise Conflict("A cancelled event cannot be published", reason="EVENT_CANCELLED")
    if event.starts_at <= _now():
        raise Conflict("An event that has started cannot be published", reason="EVENT_STARTED")
    event.status = "published"
    await writer.record(
        "event.published",
        event,
        {"event_id": str(event.id), "organizer_id": str(event.organizer_id), "title": event.title,
         "category": event.category, "tags": event.tags, "city": event.city,
         "starts_at": event.starts_at.isoformat()},
    )  # fmt: skip
    return event


async def cancel_event(writer: EventWriter, viewer: Principal, event_id: uuid.UUID) -> EventRow:
    event = await writer.lock(event_id)
    _require_manager(event, viewer)
    if event.status == "cancelled":
        return event
    if event.status == "draft":
        # Cancelling would make a never-announced draft public; it simply stays a draft.
        raise Conflict("A draft was never published, so it cannot be cancelled",
                       reason="EVENT_NOT_PUBLISHED")  # fmt: skip
    if event.ends_at <= _now():
        raise Conflict("A finished event cannot be cancelled", reason="EVENT_FINISHED")
    event.status = "cancelled"
    cancelled = list(
        await writer.session.scalars(
            update(RegistrationRow)
            .where(RegistrationRow.event_id == event.id, RegistrationRow.status.in_(LIVE_STATUSES))
            .values(
                status="cancelled",
                cancelled_at=func.clock_timestamp(),
                version=RegistrationRow.version + 1,
            )
            .returning(RegistrationRow)
        )
    )
    for registration in cancelled:
        await writer.registration_changed(registration, "registration.cancelled", "EVENT_CANCELLED")
    event.seats_taken = 0
    event.waitlist_length = 0
    writer.seats_changed(event)
    await writer.record(
        "event.cancelled",
        event,
        {"event_id": str(event.id), "registrations_cancelled": len(cancelled)},
    )
    return event


def visible_events(viewer: Principal | None) -> Select[EventRow]:
    """Events this person may see: published and cancelled ones, and their own drafts."""
    query = select(EventRow)
    if viewer is None:
        return query.where(EventRow.status != "draft")
    if viewer.is_admin:
        return query
    return query.where((EventRow.status != "draft") | (EventRow.organizer_id == viewer.user_id))


async def get_event(
    session: AsyncSession, viewer: Principal | None, event_id: uuid.UUID
) -> EventRow:
    event = await session.scalar(visible_events(viewer).where(EventRow.id == event_id))
    if event is None:
        raise NotFound("No such event")
    return event


async def list_events(
    session: AsyncSession,
    viewer: Principal | None,
    filters: dict[str, Any],
    first: int,
    after_cursor: str | None,
) -> tuple[list[EventRow], bool]:
    query = visible_events(viewer)
    now = _now()
    status = filters.get("status") or "published"
    if status == "published":
        query = query.where(EventRow.status == "published", EventRow.ends_at > now)
    elif status == "completed":
        query = query.where(EventRow.status == "published", EventRow.ends_at <= now)
    else:
        query = query.where(EventRow.status == status)
    if text := (filters.get("text") or "").strip():
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(EventRow.title.ilike(pattern) | EventRow.description.ilike(pattern))
    if category := filters.get("category"):
        query = query.where(EventRow.category == category)
    if city := (filters.get("city") or "").strip():
        query = query.where(func.lower(EventRow.city) == city.lower())
    if starts_after := filters.get("starts_after"):
        query = query.where(EventRow.starts_at >= starts_after)
    if starts_before := filters.get("starts_before"):
        query = query.where(EventRow.starts_at < starts_before)
    order = [EventRow.starts_at, EventRow.id]
    if after_cursor:
        query = query.where(after(order, cursor_values(order, after_cursor)))
    rows = list(await session.scalars(query.order_by(*order).limit(first + 1)))
    return rows[:first], len(rows) > first


async def registrations_changed_since(
    session: AsyncSession, user_id: uuid.UUID, since: datetime
) -> list[RegistrationRow]:
    """A person's registrations changed at or after `since`, oldest change first."""
    return list(
        await session.scalars(
            select(RegistrationRow)
            .where(RegistrationRow.user_id == user_id, RegistrationRow.updated_at >= since)
            .order_by(RegistrationRow.updated_at, RegistrationRow.id)
        )
    )
