from collections.abc import AsyncGenerator, Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

import strawberry

from shared.errors import NotFound
from shared.pagination import PAGED, Connection
from shared.pubsub import Resync
from shared.schema import federated_schema
from shared.validation import check_page_size, parse_id
from subgraphs.events import registrations, resolvers
from subgraphs.events.context import Info
from subgraphs.events.live import registrations_channel, seats_channel
from subgraphs.events.models import RegistrationRow
from subgraphs.events.resolvers import EventWriter
from subgraphs.events.types import (
    Event,
    EventFilter,
    EventInput,
    Registration,
    RegistrationChange,
    RegistrationChangeKind,
    SeatCounts,
    User,
)

ResultT = TypeVar("ResultT")


def _given_fields(data: Any) -> dict[str, Any]:
    """An input's fields the client actually sent, enums as their stored values."""
    return {
        name: value.value if isinstance(value, Enum) else value
        for name, value in vars(data).items()
        if value is not strawberry.UNSET
    }


async def _write(info: Info, change: Callable[[EventWriter], Awaitable[ResultT]]) -> ResultT:
    async with info.context.db.transaction() as session:
        return await change(EventWriter(session, info.context.pubsub))


@strawberry.type
class Query:
    @strawberry.field
    async def event(self, info: Info, id: strawberry.ID) -> Event:
        viewer = await info.context.principal()
        async with info.context.db.transaction() as session:
            row = await resolvers.get_event(session, viewer, parse_id(id))
        return Event.from_row(row)

    @strawberry.field(
        description="Events by start time; upcoming published ones by default", directives=PAGED
    )
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Event]:
        viewer = await info.context.principal()
        filters = _given_fields(filter) if filter else {}
        async with info.context.db.read() as session:
            rows, more = await resolvers.list_events(
                session, viewer, filters, check_page_size(first), after
            )
        for row in rows:
            info.context.event_by_id.prime(row.id, row)
        return Connection.of([(Event.cursor(row), Event.from_row(row)) for row in rows], more)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Organizers and admins: a new event, as a draft")
    async def create_event(self, info: Info, input: EventInput) -> Event:
        viewer = await info.context.require_principal()
        async with info.context.db.transaction() as session:
            row = await resolvers.create_event(session, viewer, _given_fields(input))
        return Event.from_row(row)

    @strawberry.mutation(description="Only the fields given change")
    async def update_event(self, info: Info, id: strawberry.ID, input: EventInput) -> Event:
        viewer = await info.context.require_principal()
        event_id, changes = parse_id(id), _given_fields(input)
        row = await _write(info, lambda w: resolvers.update_event(w, viewer, event_id, changes))
        return Event.from_row(row)

    @strawberry.mutation
    async def publish_event(self, info: Info, id: strawberry.ID) -> Event:
        viewer = await info.context.require_principal()
        event_id = parse_id(id)
        return Event.from_row(
            await _write(info, lambda w: resolvers.publish_event(w, viewer, event_id))
        )

    @strawberry.mutation(description="Cancels the event and every registration to it")
    async def cancel_event(self, info: Info, id: strawberry.ID) -> Event:
        viewer = await info.context.require_principal()
        event_id = parse_id(id)
        return Event.from_row(
            await _write(info, lambda w: resolvers.cancel_event(w, viewer, event_id))
        )

    @strawberry.mutation(
        description="A seat if one is free, else a waitlist place (or a request, when the "
        "organizer approves registrations). Registering again returns the same registration."
    )
    async def register_for_event(self, info: Info, event_id: strawberry.ID) -> Registration:
        viewer = await info.context.require_principal()
        row = await registrations.register_for_event(
            info.context, viewer=viewer, event_id=parse_id(event_id, "eventId")
        )
        return Registration.from_row(row)

    @strawberry.mutation(description="Frees my seat (given to the next on the waitlist)")
    async def cancel_registration(self, info: Info, event_id: strawberry.ID) -> Registration:
        viewer = await info.context.require_principal()
        row = await registrations.cancel_registration(
            info.context, viewer=viewer, event_id=parse_id(event_id, "eventId")
        )
        return Registration.from_row(row)

    @strawberry.mutation(description="Organizers: accept a pending request (seat or waitlist)")
    async def approve_registration(
        self, info: Info, registration_id: strawberry.ID
    ) -> Registration:
        viewer = await info.context.require_principal()
        row = await registrations.approve_registration(
            info.context,
            viewer=viewer,
            registration_id=parse_id(registration_id, "registrationId"),
        )
        return Registration.from_row(row)

    @strawberry.mutation(description="Organizers: turn down a pending or waitlisted request")
    async def reject_registration(self, info: Info, registration_id: strawberry.ID) -> Registration:
        viewer = await info.context.require_principal()
        row = await registrations.reject_registration(
            info.context,
            viewer=viewer,
            registration_id=parse_id(registration_id, "registrationId"),
        )
        return Registration.from_row(row)

    @strawberry.mutation(description="Organizers: admit someone, by registration id or ticket code")
    async def check_in(
        self,
        info: Info,
        registration_id: strawberry.ID | None = None,
        ticket_code: str | None = None,
    ) -> Registration:
        viewer = await info.context.require_principal()
        row = await registrations.check_in(
            info.context,
            viewer=viewer,
            registration_id=(
                None if registration_id is None else parse_id(registration_id, "registrationId")
            ),
            ticket_code=ticket_code,
        )
        return Registration.from_row(row)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The event's seat counts now, then each time they change (within a second)"
    )
    async def event_seats_changed(
        self, info: Info, event_id: strawberry.ID
    ) -> AsyncGenerator[SeatCounts, None]:
        event_uuid = parse_id(event_id, "eventId")
        viewer = await info.context.principal()
        async with info.context.pubsub.subscribe(seats_channel(event_uuid)) as updates:
            async with info.context.db.transaction() as session:
                row = await resolvers.get_event(session, viewer, event_uuid)
            latest = row.seats_version
            yield SeatCounts.of(row.id, row.capacity, row.seats_taken, row.waitlist_length)
            async for update in updates:
                if isinstance(update, Resync):
                    # Changes may have been lost while Redis was unreachable: read them.
                    async with info.context.db.transaction() as session:
                        row = await resolvers.get_event(session, viewer, event_uuid)
                    if row.seats_version > latest:
                        latest = row.seats_version
                        yield SeatCounts.of(
                            row.id, row.capacity, row.seats_taken, row.waitlist_length
                        )
                    continue
                # Replicas publish after their own commits; an older snapshot arriving late
                # must not undo a newer one.
                if update["version"] <= latest:
                    continue
                latest = update["version"]
                yield SeatCounts.of(
                    update["event_id"], update["capacity"], update["seats_taken"],
                    update["waitlist_length"],
                )  # fmt: skip

    @strawberry.subscription(
        description="My registrations as they change: promoted from the waitlist, approved, "
        "rejected, or cancelled with their event"
    )
    async def my_registration_changed(self, info: Info) -> AsyncGenerator[RegistrationChange, None]:
        viewer = await info.context.require_principal()
        async with info.context.pubsub.subscribe(registrations_channel(viewer.user_id)) as updates:
            async for update in updates:
                if isinstance(update, Resync):
                    # Changes may have been lost while Redis was unreachable: each
                    # registration changed since then is sent as its current status.
                    async with info.context.db.transaction() as session:
                        rows = await resolvers.registrations_changed_since(
                            session, viewer.user_id, update.since
                        )
                    info.context.reset_loaders()
                    for row in rows:
                        yield RegistrationChange(
                            change=RegistrationChangeKind(row.status.upper()),
                            registration=Registration.from_row(row),
                        )
                    continue
                async with info.context.db.transaction() as session:
                    changed = await session.get(
                        RegistrationRow, parse_id(update["registration_id"])
                    )
                if changed is None:
                    raise NotFound("Registration vanished")
                info.context.reset_loaders()
                yield RegistrationChange(
                    change=RegistrationChangeKind(update["change"]),
                    registration=Registration.from_row(changed),
                )


schema = federated_schema(
    query=Query, mutation=Mutation, subscription=Subscription, types=[Event, User]
)
