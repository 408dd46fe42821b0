"""Operator commands for matching: rebuild its projection, recompute every list.

The backfill reads the owning subgraphs' tables (users, blocks, events, registrations)
and applies each row through the consumers' own version-guarded writes, at the row's
current version: safe while the consumers run (whichever of the two holds the newer
version wins, field by field), and repeatable.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from shared.db import Database
from shared.eventbus import DomainEvent
from shared.settings import get_settings
from subgraphs.matching import consumers, rescoring
from subgraphs.matching.models import BlockRow

BATCH = 500
Progress = Callable[[str, int, int], None]

USERS = text(f"""
    SELECT id, version, {", ".join(consumers.PROFILE_FIELDS)} FROM users.users
    ORDER BY id LIMIT :limit OFFSET :offset
""")
BLOCKS = text("""
    SELECT b.blocker_id, b.blocked_id, u.version FROM users.blocks b
    JOIN users.users u ON u.id = b.blocker_id
""")
EVENTS = text("""
    SELECT id, title, organizer_id, starts_at, status, version FROM events.events
    WHERE status <> 'draft'
""")
REGISTRATIONS = text("""
    SELECT id, event_id, user_id, status, version FROM events.registrations
    ORDER BY id LIMIT :limit OFFSET :offset
""")


def _event(type: str, aggregate_id: object, version: int, payload: dict[str, Any]) -> DomainEvent:
    """A row as the domain event that would carry it (applied by the consumers' code)."""
    return DomainEvent(uuid.uuid4(), type, str(aggregate_id), datetime.now(UTC), payload, version)


async def _count(db: Database, table: str) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def backfill(progress: Progress) -> dict[str, int]:
    """Applies every user, block, event and registration; how many of each."""
    db = Database(get_settings().database_url, "tools", pool_size=2)
    done = {"users": 0, "blocks": 0, "events": 0, "registrations": 0}
    try:
        total = await _count(db, "users.users")
        while done["users"] < total:
            async with db.transaction() as session:
                rows = (
                    await session.execute(USERS, {"limit": BATCH, "offset": done["users"]})
                ).all()
                for row in rows:
                    fields = {name: getattr(row, name) for name in consumers.PROFILE_FIELDS}
                    if await consumers.apply_person_fields(session, row.id, fields, row.version):
                        await consumers.queue_rescore(session, [row.id])
            if not rows:
                break
            done["users"] += len(rows)
            progress("people", done["users"], total)
        async with db.transaction() as session:
            blocks = (await session.execute(BLOCKS)).all()
            live = {(row.blocker_id, row.blocked_id) for row in blocks}
            for row in blocks:
                await consumers.follow_block(session, _event(
                    "user.blocked", row.blocker_id, row.version,
                    {"blocker_id": str(row.blocker_id), "blocked_id": str(row.blocked_id)},
                ))  # fmt: skip
            # Blocks lifted while their `user.unblocked` was lost: lifted here too.
            known = (await session.execute(text(
                "SELECT b.blocker_id, b.blocked_id, u.version FROM matching.blocks b"
                " JOIN users.users u ON u.id = b.blocker_id WHERE b.active"
            ))).all()  # fmt: skip
            for row in known:
                if (row.blocker_id, row.blocked_id) not in live:
                    await session.execute(
                        insert(BlockRow)
                        .values(blocker_id=row.blocker_id, blocked_id=row.blocked_id,
                                active=False, version=row.version)
                        .on_conflict_do_update(
                            index_elements=[BlockRow.blocker_id, BlockRow.blocked_id],
                            set_={"active": False, "version": row.version},
                            where=BlockRow.version <= row.version,
                        )
                    )  # fmt: skip
            done["blocks"] = len(blocks)
            progress("blocks", len(blocks), len(blocks))
            events = (await session.execute(EVENTS)).all()
            for row in events:
                kind = "event.cancelled" if row.status == "cancelled" else "event.published"
                await consumers.follow_event(session, _event(kind, row.id, row.version, {
                    "event_id": str(row.id), "title": row.title,
                    "organizer_id": str(row.organizer_id), "starts_at": row.starts_at.isoformat(),
                }))  # fmt: skip
            done["events"] = len(events)
            progress("events", len(events), len(events))
        total = await _count(db, "events.registrations")
        while done["registrations"] < total:
            async with db.transaction() as session:
                rows = (
                    await session.execute(
                        REGISTRATIONS, {"limit": BATCH, "offset": done["registrations"]}
                    )
                ).all()
                for row in rows:
                    await consumers.follow_event(session, _event(
                        f"registration.{row.status}", row.id, row.version, {
                            "registration_id": str(row.id), "event_id": str(row.event_id),
                            "user_id": str(row.user_id), "status": row.status,
                        },
                    ))  # fmt: skip
            if not rows:
                break
            done["registrations"] += len(rows)
            progress("registrations", done["registrations"], total)
    finally:
        await db.dispose()
    return done


async def recompute(progress: Callable[[int, int], None]) -> rescoring.RecomputeStats | None:
    db = Database(get_settings().database_url, "tools", pool_size=2)
    try:
        return await rescoring.full_recompute(db, progress)
    finally:
        await db.dispose()
