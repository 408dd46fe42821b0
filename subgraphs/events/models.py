import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import subgraph_metadata
from shared.eventbus import Outbox, processed_events_table


class Base(DeclarativeBase):
    metadata = subgraph_metadata("events")


outbox = Outbox(Base.metadata)
processed_events = processed_events_table(Base.metadata)

# Waitlist order: numbers are taken while the event row is locked, so they follow the
# order in which people actually joined, which timestamps of concurrent transactions do not.
waitlist_numbers = Sequence("waitlist_numbers", metadata=Base.metadata)

LIVE_STATUSES = ("pending_approval", "confirmed", "waitlisted", "checked_in")
SEAT_HOLDING_STATUSES = ("confirmed", "checked_in")


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        # The database itself refuses an overbooked event, whatever the code does.
        CheckConstraint("capacity IS NULL OR seats_taken <= capacity", name="not_overbooked"),
        CheckConstraint("seats_taken >= 0 AND waitlist_length >= 0", name="counts_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_events_status_starts_at", "status", "starts_at", "id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organizer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(30))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    venue_name: Mapped[str | None] = mapped_column(String(200))
    venue_address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    online_url: Mapped[str | None] = mapped_column(String(2048))
    capacity: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    cover_image_url: Mapped[str | None] = mapped_column(String(2048))
    registration_opens_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registration_closes_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requires_approval: Mapped[bool] = mapped_column(default=False)
    # Kept in step with the registrations under the event's row lock, so counts are
    # read without counting and always agree with each other.
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    waitlist_length: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped with every change of the counts, so live updates arriving out of order
    # can be told apart.
    seats_version: Mapped[int] = mapped_column(BigInteger, default=0)
    # Grows with every change of the row (SQLAlchemy bumps it on each UPDATE it flushes);
    # the event's domain events carry it so consumers can ignore stale ones.
    version: Mapped[int] = mapped_column(BigInteger, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # Reads back updated_at (set by the database) as each change is flushed: rows outlive
    # their session, and an expired column could no longer be loaded (Event.icalendar).
    __mapper_args__ = {"eager_defaults": True, "version_id_col": version}


class RegistrationRow(Base):
    __tablename__ = "registrations"
    __table_args__ = (
        # At most one live registration per person and event.
        Index(
            "uq_registrations_live",
            "event_id",
            "user_id",
            unique=True,
            postgresql_where=text(f"status IN ({', '.join(repr(s) for s in LIVE_STATUSES)})"),
        ),
        Index("ix_registrations_event_status", "event_id", "status", "waitlist_number"),
        Index("ix_registrations_user", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.events.id"))
    user_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(20))
    ticket_code: Mapped[str] = mapped_column(String(40), unique=True)
    waitlist_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.clock_timestamp()
    )
    # As EventRow.version; bulk UPDATEs (cancel_event) bump it themselves.
    version: Mapped[int] = mapped_column(BigInteger, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class PersonRow(Base):
    """What the events subgraph knows of a person, copied from the users' domain events:
    only what it needs to decide who may appear in an attendee list. A person without a
    row here is not known yet and is hidden (privacy fails closed)."""

    __tablename__ = "people"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    visibility: Mapped[str] = mapped_column(String(20))
    # The user's version the visibility was copied from: an older event never overwrites it.
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
