"""EVENT rooms: one per event, open to its confirmed and checked-in attendees and its
organizer. Membership follows registrations from the events stream (this subgraph's
projection `event_registrations`): a person whose registration is cancelled leaves the
room, one who gets a seat joins it (once the room exists).

Opening the room and following a registration take the same transaction-scoped
advisory lock per event, so a registration that changes while the room is being made
is applied after it, never lost in between.
"""

import uuid

from sqlalchemy import Exists, delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import after_commit
from shared.errors import NotFound
from shared.pubsub import PubSub
from subgraphs.messaging import live
from subgraphs.messaging.context import Info
from subgraphs.messaging.models import ConversationRow, ParticipantRow
from subgraphs.messaging.notification_models import (
    EventRegistrationRow,
    KnownEventRow,
    RecipientRow,
)

ROOM_STATUSES = ("confirmed", "checked_in")


async def _lock(session: AsyncSession, event_id: uuid.UUID) -> None:
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"event-room:{event_id}", 0)))
    )


def _attending(event_id: uuid.UUID, user_id: uuid.UUID) -> Exists:
    return exists().where(
        EventRegistrationRow.event_id == event_id,
        EventRegistrationRow.user_id == user_id,
        EventRegistrationRow.status.in_(ROOM_STATUSES),
    )


async def open_event_conversation(info: Info, *, event_id: uuid.UUID) -> ConversationRow:
    """The event's room, made on first use; NOT_FOUND for anyone who may not enter."""
    viewer = await info.context.require_principal()
    async with info.context.db.transaction() as session:
        await _lock(session, event_id)
        known = await session.get(KnownEventRow, event_id)
        organizer = known is not None and known.organizer_id == viewer.user_id
        if not organizer and not await session.scalar(select(_attending(event_id, viewer.user_id))):
            raise NotFound("No such conversation", reason="NO_SUCH_CONVERSATION")
        room = await session.scalar(
            select(ConversationRow).where(ConversationRow.event_id == event_id)
        )
        if room is None:
            room = ConversationRow(
                id=uuid.uuid4(), kind="event", event_id=event_id,
                title=None if known is None else known.title[:100],
            )  # fmt: skip
            session.add(room)
            await session.flush()
            attendees = set(
                await session.scalars(
                    select(EventRegistrationRow.user_id).where(
                        EventRegistrationRow.event_id == event_id,
                        EventRegistrationRow.status.in_(ROOM_STATUSES),
                    )
                )
            )
            members = [{"conversation_id": room.id, "user_id": u, "role": "member"}
                       for u in attendees if known is None or u != known.organizer_id]  # fmt: skip
            if known is not None and known.organizer_id is not None:
                members.append(
                    {"conversation_id": room.id, "user_id": known.organizer_id,
                     "role": "organizer"}
                )  # fmt: skip
            if members:
                await session.execute(insert(ParticipantRow).on_conflict_do_nothing(), members)
            await session.refresh(room)
    return room


async def follow_registration(
    session: AsyncSession, pubsub: PubSub, event_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """After a registration of `user_id` changed: they are in the event's room (if it
    exists) exactly while one of their registrations holds a seat."""
    await _lock(session, event_id)
    room = await session.scalar(select(ConversationRow).where(ConversationRow.event_id == event_id))
    if room is None:
        return
    if await session.scalar(select(_attending(event_id, user_id))):
        changed = await session.scalar(
            insert(ParticipantRow)
            .values(conversation_id=room.id, user_id=user_id, role="member")
            .on_conflict_do_nothing()
            .returning(ParticipantRow.user_id)
        )
        kind, inbox_kind = "MEMBER_ADDED", "ADDED"
    else:
        changed = await session.scalar(
            delete(ParticipantRow)
            .where(
                ParticipantRow.conversation_id == room.id,
                ParticipantRow.user_id == user_id,
                ParticipantRow.role == "member",  # the organizer stays
            )
            .returning(ParticipantRow.user_id)
        )
        kind, inbox_kind = "MEMBER_REMOVED", "REMOVED"
    if changed is None:
        return
    person = await session.get(RecipientRow, user_id)

    async def announce() -> None:
        await live.publish_conversation_event(
            pubsub, room.id, kind, room.last_seq, user=live.person_fields(user_id, person)
        )
        await live.publish_inbox_event(pubsub, [user_id], room.id, inbox_kind, room.last_seq)

    after_commit(session, announce)
