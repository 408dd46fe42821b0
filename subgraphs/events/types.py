import uuid
from datetime import UTC, datetime
from enum import Enum

import strawberry

from shared.errors import Forbidden
from shared.pagination import PAGED, Connection, encode_cursor
from shared.validation import check_page_size
from subgraphs.events.calendar import icalendar
from subgraphs.events.context import Info
from subgraphs.events.models import SEAT_HOLDING_STATUSES, EventRow, RegistrationRow
from subgraphs.events.resolvers import is_manager


@strawberry.enum
class EventCategory(Enum):
    CONFERENCE = "conference"
    MEETUP = "meetup"
    WORKSHOP = "workshop"
    NETWORKING = "networking"
    WEBINAR = "webinar"
    HACKATHON = "hackathon"
    SOCIAL = "social"
    OTHER = "other"


@strawberry.enum
class EventStatus(Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


@strawberry.enum
class RegistrationStatus(Enum):
    PENDING_APPROVAL = "pending_approval"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    CHECKED_IN = "checked_in"


@strawberry.type
class Venue:
    name: str | None
    address: str | None
    city: str | None
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 code")


def _page(first: int, after: str | None) -> tuple[int, str | None]:
    return check_page_size(first), after


@strawberry.federation.type(
    keys=["id"], description="A person; the events subgraph adds their events"
)
class User:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> "User":
        return cls(id=id)

    def _user_id(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(self.id))
        except ValueError:
            return None

    @strawberry.field(
        description="Events this person organises (their drafts only for them)", directives=PAGED
    )
    async def organized_events(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection["Event"] | None:
        user_id = self._user_id()
        if user_id is None:
            return Connection.of([], False)
        viewer = await info.context.principal()
        own = viewer is not None and (viewer.user_id == user_id or viewer.is_admin)
        rows, more = await info.context.organized_event_pages(own).load(
            (user_id, *_page(first, after))
        )
        return Connection.of([(Event.cursor(row), Event.from_row(row)) for row in rows], more)

    @strawberry.field(
        description="This person's registrations, oldest first; null with FORBIDDEN for "
        "anyone but them and admins",
        directives=PAGED,
    )
    async def registrations(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection["Registration"] | None:
        viewer = await info.context.require_principal()
        user_id = self._user_id()
        if user_id is None or (viewer.user_id != user_id and not viewer.is_admin):
            raise Forbidden("Only you can see your registrations")
        statuses = tuple(status.value for status in RegistrationStatus)
        loader = info.context.registration_pages("user", statuses)
        rows, more = await loader.load((user_id, *_page(first, after)))
        return Registration.connection(rows, more)


@strawberry.type(description="Seats of an event, as they change")
class SeatCounts:
    event_id: strawberry.ID
    capacity: int | None
    seats_taken: int
    seats_left: int | None = strawberry.field(description="Null when the event is unlimited")
    waitlist_length: int

    @classmethod
    def of(
        cls, event_id: object, capacity: int | None, seats_taken: int, waitlist: int
    ) -> "SeatCounts":
        return cls(
            event_id=strawberry.ID(str(event_id)),
            capacity=capacity,
            seats_taken=seats_taken,
            seats_left=None if capacity is None else capacity - seats_taken,
            waitlist_length=waitlist,
        )


@strawberry.federation.type(keys=["id"], description="Something people meet at")
class Event:
    id: strawberry.ID
    title: str
    description: str | None
    category: EventCategory
    tags: list[str]
    starts_at: datetime
    ends_at: datetime
    venue: Venue | None
    online_url: str | None
    capacity: int | None = strawberry.field(description="Null when unlimited")
    cover_image_url: str | None
    registration_opens_at: datetime | None
    registration_closes_at: datetime | None
    requires_approval: bool
    seats_taken: int
    waitlist_length: int
    organizer: User
    row: strawberry.Private[EventRow]

    @classmethod
    def from_row(cls, row: EventRow) -> "Event":
        has_venue = row.venue_name or row.city
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            description=row.description,
            category=EventCategory(row.category),
            tags=row.tags,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            venue=Venue(name=row.venue_name, address=row.venue_address, city=row.city,
                        country=row.country) if has_venue else None,
            online_url=row.online_url,
            capacity=row.capacity,
            cover_image_url=row.cover_image_url,
            registration_opens_at=row.registration_opens_at,
            registration_closes_at=row.registration_closes_at,
            requires_approval=row.requires_approval,
            seats_taken=row.seats_taken,
            waitlist_length=row.waitlist_length,
            organizer=User(id=strawberry.ID(str(row.organizer_id))),
            row=row,
        )  # fmt: skip

    @staticmethod
    def cursor(row: EventRow) -> str:
        return encode_cursor(row.starts_at.isoformat(), row.id)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> "Event | None":
        try:
            row = await info.context.event_by_id.load(uuid.UUID(str(id)))
        except ValueError:
            return None
        if row is None or (
            row.status == "draft" and not is_manager(row, await info.context.principal())
        ):
            return None
        return cls.from_row(row)

    @strawberry.field
    def status(self) -> EventStatus:
        if self.row.status == "published" and self.row.ends_at <= datetime.now(UTC):
            return EventStatus.COMPLETED
        return EventStatus(self.row.status)

    @strawberry.field(description="Null when the event is unlimited")
    def seats_left(self) -> int | None:
        return None if self.row.capacity is None else self.row.capacity - self.row.seats_taken

    @strawberry.field(description="My latest registration for this event, if I have one")
    async def my_registration(self, info: Info) -> "Registration | None":
        row = await info.context.my_registration(self.row.id)
        return None if row is None else Registration.from_row(row)

    @strawberry.field(
        description="Confirmed attendees, for the organizer and fellow attendees only (null "
        "with FORBIDDEN for others). People with a private profile are listed to the "
        "organizer alone.",
        directives=PAGED,
    )
    async def attendees(
        self, info: Info, first: int = 50, after: str | None = None
    ) -> Connection["Registration"] | None:
        viewer = await info.context.require_principal()
        manager = is_manager(self.row, viewer)
        if not manager:
            mine = await info.context.my_registration(self.row.id)
            if mine is None or mine.status not in SEAT_HOLDING_STATUSES:
                raise Forbidden("Only the organizer and confirmed attendees see who attends")
        loader = info.context.registration_pages(
            "event", SEAT_HOLDING_STATUSES, hide_private=not manager
        )
        rows, more = await loader.load((self.row.id, *_page(first, after)))
        return Registration.connection(rows, more)

    @strawberry.field(
        description="Every registration in a given state; for the organizer (null with "
        "FORBIDDEN for others)",
        directives=PAGED,
    )
    async def registrations(
        self,
        info: Info,
        status: RegistrationStatus | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection["Registration"] | None:
        viewer = await info.context.require_principal()
        if not is_manager(self.row, viewer):
            raise Forbidden("Only the event's organizer sees its registrations")
        statuses = (status.value,) if status else tuple(s.value for s in RegistrationStatus)
        loader = info.context.registration_pages("event", statuses)
        rows, more = await loader.load((self.row.id, *_page(first, after)))
        return Registration.connection(rows, more)

    @strawberry.field(description="The event as an iCalendar (.ics) file, for calendar apps")
    def icalendar(self) -> str:
        return icalendar(self.row)


@strawberry.type(description="A person's place at an event: a seat, a waitlist place, or a request")
class Registration:
    id: strawberry.ID
    status: RegistrationStatus
    user: User
    created_at: datetime
    confirmed_at: datetime | None
    checked_in_at: datetime | None
    cancelled_at: datetime | None
    row: strawberry.Private[RegistrationRow]

    @classmethod
    def from_row(cls, row: RegistrationRow) -> "Registration":
        return cls(
            id=strawberry.ID(str(row.id)),
            status=RegistrationStatus(row.status),
            user=User(id=strawberry.ID(str(row.user_id))),
            created_at=row.created_at,
            confirmed_at=row.confirmed_at,
            checked_in_at=row.checked_in_at,
            cancelled_at=row.cancelled_at,
            row=row,
        )

    @classmethod
    def connection(cls, rows: list[RegistrationRow], more: bool) -> Connection["Registration"]:
        return Connection.of(
            [
                (encode_cursor(row.created_at.isoformat(), row.id), cls.from_row(row))
                for row in rows
            ],
            more,
        )

    @strawberry.field
    async def event(self, info: Info) -> Event:
        return Event.from_row(await info.context.event(self.row.event_id))

    @strawberry.field(description="1 when next in line for a seat; null when not waitlisted")
    async def waitlist_position(self, info: Info) -> int | None:
        if self.row.status != "waitlisted":
            return None
        return await info.context.waitlist_position.load(self.row.id)

    @strawberry.field(description="The code to show at the door; for its holder and the organizer")
    async def ticket_code(self, info: Info) -> str | None:
        if self.row.status not in SEAT_HOLDING_STATUSES:
            return None
        viewer = await info.context.principal()
        if viewer is not None and viewer.user_id == self.row.user_id:
            return self.row.ticket_code
        event = await info.context.event(self.row.event_id)
        return self.row.ticket_code if is_manager(event, viewer) else None


@strawberry.enum(description="Why a registration changed")
class RegistrationChangeKind(Enum):
    CONFIRMED = "CONFIRMED"
    WAITLISTED = "WAITLISTED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    PROMOTED = "PROMOTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EVENT_CANCELLED = "EVENT_CANCELLED"
    CHECKED_IN = "CHECKED_IN"


@strawberry.type(description="What changed about one of my registrations")
class RegistrationChange:
    change: RegistrationChangeKind
    registration: Registration


@strawberry.input
class EventFilter:
    text: str | None = strawberry.field(default=None, description="In the title or description")
    category: EventCategory | None = None
    city: str | None = None
    starts_after: datetime | None = None
    starts_before: datetime | None = None
    status: EventStatus | None = strawberry.field(default=None, description="Default: PUBLISHED")


@strawberry.input(description="Only the fields given change; null clears an optional field")
class EventInput:
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    category: EventCategory | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    starts_at: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 8601 with a timezone offset"
    )
    ends_at: datetime | None = strawberry.UNSET
    venue_name: str | None = strawberry.UNSET
    venue_address: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    country: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 3166-1 alpha-2"
    )
    online_url: str | None = strawberry.UNSET
    capacity: int | None = strawberry.field(default=strawberry.UNSET, description="Null: unlimited")
    cover_image_url: str | None = strawberry.UNSET
    registration_opens_at: datetime | None = strawberry.UNSET
    registration_closes_at: datetime | None = strawberry.UNSET
    requires_approval: bool | None = strawberry.UNSET
