"""Operator commands for the event bus: dead letters and republishing profile visibility."""

import uuid
from typing import Any

from sqlalchemy import func, literal, select, true

from shared.db import Database
from shared.eventbus import dead_letters, replay_dead_letter, stream_name
from shared.redis_client import redis_client
from shared.settings import get_settings


async def list_dead_letters(producer: str) -> list[str]:
    """One line per dead letter of `producer`'s stream: id, group, event, reason, error."""
    settings = get_settings()
    redis = redis_client(settings)
    try:
        letters = await dead_letters(redis, stream_name(settings.redis_prefix, producer))
    finally:
        await redis.aclose()
    return [
        f"{letter_id}  group={fields.get('dead_letter_group')}  type={fields.get('type')}  "
        f"event={fields.get('id')}  reason={fields.get('dead_letter_reason')}  "
        f"deliveries={fields.get('dead_letter_deliveries')}  "
        f"error={fields.get('dead_letter_error')}"
        for letter_id, fields in letters
    ]


async def replay_dead_letters(producer: str, letter_ids: list[str]) -> list[str]:
    """Puts dead letters back on their stream (all of them when `letter_ids` is empty)."""
    settings = get_settings()
    stream = stream_name(settings.redis_prefix, producer)
    redis = redis_client(settings)
    try:
        if not letter_ids:
            letter_ids = [letter_id for letter_id, _ in await dead_letters(redis, stream)]
        lines = []
        for letter_id in letter_ids:
            new_id = await replay_dead_letter(redis, stream, letter_id)
            lines.append(
                f"{letter_id}: no such dead letter"
                if new_id is None
                else f"{letter_id}: replayed as {new_id}"
            )
        return lines
    finally:
        await redis.aclose()


async def republish_visibility(user_ids: list[uuid.UUID]) -> int:
    """Records, for every user, a `user.profile_updated` event carrying their visibility at
    their current version: the backfill for consumers that hide whoever they do not know
    (the events subgraph's attendee lists). Version-guarded consumers ignore what they
    already hold. The users subgraph's relay sends the events. `user_ids`: only these
    users (default: everyone)."""
    from subgraphs.users.models import UserRow, outbox

    db = Database(get_settings().database_url, "tools")
    user_id = func.cast(UserRow.id, outbox.table.c.aggregate_id.type)
    payload: Any = func.jsonb_build_object(
        "user_id", user_id, "changed", func.jsonb_build_object("visibility", UserRow.visibility)
    )
    columns = ["id", "type", "aggregate_id", "version", "payload", "occurred_at"]
    try:
        async with db.transaction() as session:
            result = await session.execute(
                outbox.table.insert().from_select(
                    columns,
                    select(
                        func.gen_random_uuid(),
                        literal("user.profile_updated"),
                        user_id,
                        UserRow.version,
                        payload,
                        func.now(),
                    ).where(UserRow.id.in_(user_ids) if user_ids else true()),
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
    finally:
        await db.dispose()
