"""What matching learns from the users and events streams: its projection.

Each stream is read by the shared consumer (`shared.eventbus.consume`: consumer group
`matching`, at least once, idempotent by event id in the same transaction as the
effect, resumes after a crash). Events can be applied out of order (two processes of
the group, redeliveries), so every write is guarded by the aggregate's version:

- a person's fields each keep the version that set them (`people.field_versions`):
  `user.profile_updated` carries only what changed, so an older event still sets a
  field that no newer event has touched, and never one that a newer event set;
- a block keeps the blocker's version; events and registrations keep their own.

Every change that can move someone's recommendations queues them for re-scoring
(`rescore_queue`, in the same transaction); `rescoring.rescore_queued` takes it up.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import after_commit
from shared.eventbus import DomainEvent, consume
from subgraphs.matching.models import (
    BlockRow,
    KnownEventRow,
    PersonRow,
    RegistrationRow,
    RescoreRow,
    processed_events,
)
from subgraphs.matching.rescoring import rescore_wakeup

GROUP = "matching"

# Profile fields matching keeps, as the users subgraph names them.
PROFILE_FIELDS = (
    "name", "headline", "industry", "seniority", "city", "country",
    "skills", "interests", "offers", "seeks", "visibility", "role",
)  # fmt: skip
TAG_FIELDS = ("skills", "interests", "offers", "seeks")


def _requeued(statement: Insert) -> Insert:
    # Queued again while being re-scored: the job deletes only the entry it read.
    return statement.on_conflict_do_update(
        index_elements=[RescoreRow.user_id], set_={"queued_at": func.now()}
    )


async def _wake_rescoring() -> None:
    rescore_wakeup.set()


async def queue_rescore(session: AsyncSession, user_ids: list[uuid.UUID]) -> None:
    """Marks people for re-scoring once this transaction commits."""
    if not user_ids:
        return
    await session.execute(
        _requeued(insert(RescoreRow)), [{"user_id": user_id} for user_id in set(user_ids)]
    )
    after_commit(session, _wake_rescoring)


async def apply_person_fields(
    session: AsyncSession, user_id: uuid.UUID, fields: dict[str, Any], version: int
) -> bool:
    """Sets each field unless a newer version already set it; whether anything changed."""
    await session.execute(insert(PersonRow).values(user_id=user_id).on_conflict_do_nothing())
    person = await session.scalar(
        select(PersonRow).where(PersonRow.user_id == user_id).with_for_update()
    )
    assert person is not None
    versions = dict(person.field_versions)
    changed = False
    for name, value in fields.items():
        if versions.get(name, 0) >= version:
            continue
        versions[name] = version
        if name in TAG_FIELDS:
            value = list(value or [])
        setattr(person, name, value)
        changed = True
    if changed:
        person.field_versions = versions
        person.topics = sorted(set(person.skills or []) | set(person.interests or []))
        person.updated_at = datetime.now().astimezone()
    return changed


async def follow_user(session: AsyncSession, event: DomainEvent) -> None:
    payload = event.payload
    fields: dict[str, Any]
    if event.type == "user.registered":
        fields = {name: payload[name] for name in PROFILE_FIELDS if name in payload}
    elif event.type == "user.profile_updated":
        changed = payload.get("changed", {})
        fields = {name: changed[name] for name in PROFILE_FIELDS if name in changed}
    elif event.type == "user.role_changed":
        fields = {"role": payload["role"]}
    elif event.type in ("user.suspended", "user.unsuspended"):
        fields = {"suspended": event.type == "user.suspended"}
    elif event.type == "user.deleted":
        fields = {"deleted": True}
    elif event.type in ("user.blocked", "user.unblocked"):
        await follow_block(session, event)
        return
    else:
        return
    user_id = uuid.UUID(event.aggregate_id)
    if await apply_person_fields(session, user_id, fields, event.version):
        await queue_rescore(session, [user_id])


async def follow_block(session: AsyncSession, event: DomainEvent) -> None:
    blocker, blocked = (
        uuid.UUID(event.payload["blocker_id"]),
        uuid.UUID(event.payload["blocked_id"]),
    )
    values = {"active": event.type == "user.blocked", "version": event.version}
    upsert = insert(BlockRow).values(blocker_id=blocker, blocked_id=blocked, **values)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[BlockRow.blocker_id, BlockRow.blocked_id],
            set_=values,
            where=BlockRow.version < upsert.excluded.version,
        )
    )
    # Recommendations leave out blocks when they are read; re-scoring refills the lists.
    await queue_rescore(session, [blocker, blocked])


async def follow_event(session: AsyncSession, event: DomainEvent) -> None:
    payload = event.payload
    if event.type.startswith("registration."):
        values: dict[str, Any] = {
            "event_id": uuid.UUID(payload["event_id"]),
            "user_id": uuid.UUID(payload["user_id"]),
            "status": payload["status"],
            "version": event.version,
        }
        upsert = insert(RegistrationRow).values(
            registration_id=uuid.UUID(payload["registration_id"]), **values
        )
        applied = (
            upsert.on_conflict_do_update(
                index_elements=[RegistrationRow.registration_id],
                set_=values,
                where=RegistrationRow.version < upsert.excluded.version,
            )
            .returning(RegistrationRow.user_id)
            .cte("applied")
        )
        # The projection and, when it changed, the person's re-scoring in one round trip
        # (a hot path: every registration comes through here).
        queued = await session.execute(
            _requeued(
                insert(RescoreRow).from_select(["user_id"], select(applied.c.user_id))
            ).returning(RescoreRow.user_id)
        )
        if queued.first() is not None:
            after_commit(session, _wake_rescoring)
        return
    if not event.type.startswith("event."):
        return
    event_values: dict[str, Any] = {"version": event.version}
    if "title" in payload:
        event_values["title"] = payload["title"]
    if "starts_at" in payload:
        event_values["starts_at"] = datetime.fromisoformat(payload["starts_at"])
    if "organizer_id" in payload:
        event_values["organizer_id"] = uuid.UUID(payload["organizer_id"])
    event_values["status"] = "cancelled" if event.type == "event.cancelled" else "published"
    upsert = insert(KnownEventRow).values(event_id=uuid.UUID(event.aggregate_id), **event_values)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[KnownEventRow.event_id],
            set_=event_values,
            where=KnownEventRow.version < upsert.excluded.version,
        )
    )


follow_users_stream = consume("users", follow_user, processed=processed_events, group=GROUP)
follow_events_stream = consume("events", follow_event, processed=processed_events, group=GROUP)
