"""The events subgraph's copy of who keeps their profile private, fed by the users stream.

Events can arrive out of order (parallel consumers, redeliveries), so each copy keeps
the user's version it came from and only a newer event replaces it. Someone with no
copy yet is hidden from attendee lists until their first event arrives (see
`Context.registration_pages`): privacy fails closed.
"""

import uuid

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.eventbus import DomainEvent, consume
from subgraphs.events.models import PersonRow, processed_events


def _visibility(event: DomainEvent) -> str | None:
    """The visibility the event sets, if it sets one."""
    if event.type == "user.registered":
        return str(event.payload["visibility"])
    if event.type == "user.profile_updated":
        changed = event.payload.get("changed")
        if isinstance(changed, dict) and "visibility" in changed:
            return str(changed["visibility"])
    return None


async def remember_visibility(session: AsyncSession, event: DomainEvent) -> None:
    visibility = _visibility(event)
    if visibility is None:
        return
    upsert = insert(PersonRow).values(
        user_id=uuid.UUID(event.aggregate_id), visibility=visibility, version=event.version
    )
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[PersonRow.user_id],
            set_={"visibility": visibility, "version": event.version, "updated_at": func.now()},
            where=PersonRow.version < upsert.excluded.version,
        )
    )


follow_people = consume("users", remember_visibility, processed=processed_events, group="events")
