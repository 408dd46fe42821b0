"""The notification feed: recording notifications, reading and marking them, preferences.

`notify` is the one way to give people a notification, whoever decides to (the
stream consumers, the chat). It writes in the caller's transaction: the
notification, and the email it owes when the person wants email for that kind
(`outgoing_mail`, sent later by the mailer). Live delivery (`notificationReceived`)
is published only once that transaction has committed. The in-app notification
never waits for email.
"""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Boolean, Result, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import after_commit
from shared.pubsub import PubSub
from subgraphs.messaging.notification_models import (
    NotificationPreferenceRow,
    NotificationRow,
    OutgoingMailRow,
    notification_positions,
)


class NotificationKind(Enum):
    REGISTRATION_CONFIRMED = "registration_confirmed"
    REGISTRATION_WAITLISTED = "registration_waitlisted"
    REGISTRATION_PROMOTED = "registration_promoted"
    REGISTRATION_APPROVED = "registration_approved"
    REGISTRATION_REJECTED = "registration_rejected"
    EVENT_UPDATED = "event_updated"
    EVENT_CANCELLED = "event_cancelled"
    NEW_MATCH = "new_match"
    NEW_MESSAGE = "new_message"


# Email unless the person said otherwise: what changes their plans (registration
# outcomes, an event moved or cancelled) is worth an email; chat and matches are
# frequent and already live in the app.
EMAIL_BY_DEFAULT = frozenset(
    {
        NotificationKind.REGISTRATION_CONFIRMED,
        NotificationKind.REGISTRATION_WAITLISTED,
        NotificationKind.REGISTRATION_PROMOTED,
        NotificationKind.REGISTRATION_APPROVED,
        NotificationKind.REGISTRATION_REJECTED,
        NotificationKind.EVENT_UPDATED,
        NotificationKind.EVENT_CANCELLED,
    }
)


def notifications_channel(user_id: uuid.UUID | str) -> str:
    return f"notifications:{user_id}"


@dataclass(frozen=True)
class NewNotification:
    """What to tell people. With a `dedupe_key`, a person has at most one *unread*
    notification for that key: a new one replaces its title and body and brings it
    back to the top of the feed instead of adding another (chat batches "new messages
    in this conversation" so), and owes no second email."""

    kind: NotificationKind
    title: str
    body: str
    event_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    match_id: uuid.UUID | None = None
    registration_id: uuid.UUID | None = None
    dedupe_key: str | None = None


# Published with a notification that queued an email: it wakes the mailer in whichever
# process runs it, the worker (docs/architecture.md, "Processes").
MAIL_QUEUED_CHANNEL = "mail-queued"


def as_message(row: NotificationRow) -> dict[str, Any]:
    """A notification as `notificationReceived` carries it (everything the type shows)."""
    return {
        "id": str(row.id),
        "user_id": str(row.user_id),
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "event_id": row.event_id and str(row.event_id),
        "conversation_id": row.conversation_id and str(row.conversation_id),
        "match_id": row.match_id and str(row.match_id),
        "registration_id": row.registration_id and str(row.registration_id),
        "created_at": row.created_at.isoformat(),
        "read_at": row.read_at and row.read_at.isoformat(),
        "position": row.position,
    }


def from_message(message: dict[str, Any]) -> NotificationRow:
    def optional_id(key: str) -> uuid.UUID | None:
        return None if message[key] is None else uuid.UUID(message[key])

    return NotificationRow(
        id=uuid.UUID(message["id"]),
        user_id=uuid.UUID(message["user_id"]),
        kind=message["kind"],
        title=message["title"],
        body=message["body"],
        event_id=optional_id("event_id"),
        conversation_id=optional_id("conversation_id"),
        match_id=optional_id("match_id"),
        registration_id=optional_id("registration_id"),
        created_at=datetime.fromisoformat(message["created_at"]),
        read_at=None if message["read_at"] is None else datetime.fromisoformat(message["read_at"]),
        position=message["position"],
    )


async def notify(
    session: AsyncSession,
    pubsub: PubSub,
    recipients: Iterable[uuid.UUID],
    notification: NewNotification,
) -> list[NotificationRow]:
    """Gives each recipient the notification, in the caller's transaction.

    A constant number of statements whatever the number of recipients (an event
    with a thousand attendees is one insert). Returns the rows written (new or,
    with a dedupe key, refreshed).
    """
    user_ids = list(dict.fromkeys(recipients))
    if not user_ids:
        return []
    values = [
        {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "kind": notification.kind.value,
            "title": notification.title[:200],
            "body": notification.body,
            "event_id": notification.event_id,
            "conversation_id": notification.conversation_id,
            "match_id": notification.match_id,
            "registration_id": notification.registration_id,
            "dedupe_key": notification.dedupe_key,
        }
        for user_id in user_ids
    ]
    # The rows go as parameters: a statement with `.values([...])` has no cache key,
    # so SQLAlchemy would compile it again on every call (docs/architecture.md).
    statement = insert(NotificationRow)
    if notification.dedupe_key is not None:
        statement = statement.on_conflict_do_update(
            index_elements=[NotificationRow.user_id, NotificationRow.dedupe_key],
            index_where=text("read_at IS NULL AND dedupe_key IS NOT NULL"),
            set_={
                "title": statement.excluded.title,
                "body": statement.excluded.body,
                "created_at": func.now(),
                "position": notification_positions.next_value(),
            },
        )
    # xmax is 0 on a row this statement inserted, and not on one it updated.
    inserted = literal_column("xmax = 0", Boolean)
    result: Result[NotificationRow, bool] = await session.execute(
        statement.returning(NotificationRow, inserted.label("inserted")).execution_options(
            populate_existing=True
        ),
        values,
    )
    written = result.all()
    rows = [row for row, _ in written]
    new_rows = [row for row, was_inserted in written if was_inserted]
    mail_queued = bool(new_rows) and await _queue_emails(session, notification.kind, new_rows)

    async def publish() -> None:
        updates = [(notifications_channel(row.user_id), as_message(row)) for row in rows]
        if mail_queued:
            updates.append((MAIL_QUEUED_CHANNEL, {}))
        await pubsub.publish_each(updates)

    after_commit(session, publish)
    return rows


async def _queue_emails(
    session: AsyncSession, kind: NotificationKind, rows: Sequence[NotificationRow]
) -> bool:
    """Queues the email of each notification whose owner wants email for its kind, in
    one statement: the owner's choice, else the kind's default. Whether any was queued."""
    choice = NotificationPreferenceRow
    wanted = (
        select(NotificationRow.id, NotificationRow.user_id)
        .outerjoin(
            choice, (choice.user_id == NotificationRow.user_id) & (choice.kind == kind.value)
        )
        .where(
            NotificationRow.id.in_([row.id for row in rows]),
            func.coalesce(choice.email, kind in EMAIL_BY_DEFAULT),
        )
    )
    queued = await session.execute(
        insert(OutgoingMailRow)
        .from_select(["notification_id", "user_id"], wanted)
        .on_conflict_do_nothing()
        .returning(OutgoingMailRow.notification_id)
    )
    return queued.first() is not None


async def mark_read(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    dedupe_key: str | None = None,
) -> int:
    """Marks the person's unread notifications read: all of them, those among `ids`,
    or the one batched under `dedupe_key` (the chat clears "new messages" so once the
    conversation is read). Other people's ids are ignored. Returns how many changed."""
    statement = update(NotificationRow).where(
        NotificationRow.user_id == user_id, NotificationRow.read_at.is_(None)
    )
    if ids is not None:
        statement = statement.where(NotificationRow.id.in_(ids))
    if dedupe_key is not None:
        statement = statement.where(NotificationRow.dedupe_key == dedupe_key)
    result = await session.execute(
        statement.values(read_at=func.now()).returning(NotificationRow.id)
    )
    return len(result.all())


async def unread_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(NotificationRow)
        .where(NotificationRow.user_id == user_id, NotificationRow.read_at.is_(None))
    )
    return count or 0


async def page_of_notifications(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    first: int,
    after_position: int | None,
    unread_only: bool,
) -> tuple[list[NotificationRow], bool]:
    """The person's notifications, newest first, after the cursor's position."""
    query = select(NotificationRow).where(NotificationRow.user_id == user_id)
    if unread_only:
        query = query.where(NotificationRow.read_at.is_(None))
    if after_position is not None:
        query = query.where(NotificationRow.position < after_position)
    rows = list(
        await session.scalars(query.order_by(NotificationRow.position.desc()).limit(first + 1))
    )
    return rows[:first], len(rows) > first


async def notified_since(
    session: AsyncSession, user_id: uuid.UUID, since: datetime, limit: int = 100
) -> list[NotificationRow]:
    """The person's notifications created (or refreshed) since `since`, oldest first."""
    rows = await session.scalars(
        select(NotificationRow)
        .where(NotificationRow.user_id == user_id, NotificationRow.created_at >= since)
        .order_by(NotificationRow.position.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


async def email_choices(session: AsyncSession, user_id: uuid.UUID) -> dict[NotificationKind, bool]:
    """Whether the person gets email, for every kind (their choice, else the default)."""
    chosen = dict(
        (
            await session.execute(
                select(NotificationPreferenceRow.kind, NotificationPreferenceRow.email).where(
                    NotificationPreferenceRow.user_id == user_id
                )
            )
        ).all()
    )
    return {kind: chosen.get(kind.value, kind in EMAIL_BY_DEFAULT) for kind in NotificationKind}


async def choose_email(
    session: AsyncSession, user_id: uuid.UUID, kind: NotificationKind, email: bool
) -> None:
    statement = insert(NotificationPreferenceRow).values(
        user_id=user_id, kind=kind.value, email=email
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[NotificationPreferenceRow.user_id, NotificationPreferenceRow.kind],
            set_={"email": email, "updated_at": func.now()},
        )
    )
