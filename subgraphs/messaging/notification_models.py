"""Tables of the notification feed, its email, and the projections that feed it.

The projections (`notification_recipients`, `event_registrations`, `known_events`) are this
subgraph's own copies of what the users and events subgraphs publish: who a
person is and how to email them, who is registered for which event, and what
an event is called. Consumers keep them; nothing else writes them. Each row keeps
the version of the aggregate it came from, and only a newer event replaces it
(events can arrive out of order).
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
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
from sqlalchemy.orm import Mapped, mapped_column

from subgraphs.messaging.models import Base

# A notification's place in its owner's feed (newest first). A batched notification
# that gets a new occurrence takes a new number, so it comes back to the top.
notification_positions = Sequence("notification_positions", metadata=Base.metadata)


class NotificationRow(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_position", "user_id", "position"),
        # The badge and `unreadOnly` read only unread rows.
        Index(
            "ix_notifications_unread",
            "user_id",
            "position",
            postgresql_where=text("read_at IS NULL"),
        ),
        # Batching: at most one unread notification per person and dedupe key.
        Index(
            "uq_notifications_unread_dedupe_key",
            "user_id",
            "dedupe_key",
            unique=True,
            postgresql_where=text("read_at IS NULL AND dedupe_key IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    position: Mapped[int] = mapped_column(
        BigInteger, server_default=notification_positions.next_value()
    )
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    event_id: Mapped[uuid.UUID | None]
    conversation_id: Mapped[uuid.UUID | None]
    match_id: Mapped[uuid.UUID | None]
    registration_id: Mapped[uuid.UUID | None]
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationPreferenceRow(Base):
    """A person's choice for one kind; kinds without a row follow the defaults in code."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutgoingMailRow(Base):
    """An email owed for a notification: at most one per notification (its primary key).

    The address is looked up when sending, so a notification about someone whose
    sign-up has not reached this subgraph yet still gets its email once it has.
    """

    __tablename__ = "outgoing_mail"
    __table_args__ = (
        Index("ix_outgoing_mail_due", "next_attempt_at", postgresql_where=text("sent_at IS NULL")),
    )

    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging.notifications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class RecipientRow(Base):
    """Who someone is, from the users stream: enough to greet and email them."""

    __tablename__ = "notification_recipients"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class EventRegistrationRow(Base):
    """Each registration's latest status, from the events stream."""

    __tablename__ = "event_registrations"
    __table_args__ = (Index("ix_event_registrations_event_status", "event_id", "status"),)

    registration_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class KnownEventRow(Base):
    """An event's title and start, from the events stream, for notification texts."""

    __tablename__ = "known_events"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    organizer_id: Mapped[uuid.UUID | None]
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
