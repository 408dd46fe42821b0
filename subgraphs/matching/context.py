"""The matching request context and its DataLoaders (one SQL statement per batch)."""

import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

import strawberry
from aiodataloader import DataLoader
from sqlalchemy import text
from starlette.requests import HTTPConnection

from shared.context import RequestContext
from shared.db import Database
from subgraphs.matching import permissions
from subgraphs.matching.scoring import Profile

PROFILE_COLUMNS = (
    "p.user_id, p.skills, p.interests, p.offers, p.seeks, p.industry, p.seniority, p.city,"
    " p.country"
)
# Each person's upcoming events that they attend, with titles (for reasons).
ATTENDING = text("""
    SELECT r.user_id, e.event_id, e.title FROM matching.registrations r
    JOIN matching.known_events e ON e.event_id = r.event_id
    WHERE r.user_id = ANY(:ids) AND r.status IN ('confirmed', 'checked_in')
      AND e.status = 'published' AND e.starts_at > now() - interval '12 hours'
""")


def profile_of(row: Any, events: dict[uuid.UUID, str]) -> Profile:
    return Profile(
        row.user_id, row.skills, row.interests, row.offers, row.seeks, row.industry,
        row.seniority, row.city, row.country, frozenset(events),
    )  # fmt: skip


async def _attending(db: Database, user_ids: Sequence[uuid.UUID]) -> list[dict[uuid.UUID, str]]:
    async with db.read() as session:
        rows = (await session.execute(ATTENDING, {"ids": list(user_ids)})).all()
    found: dict[uuid.UUID, dict[uuid.UUID, str]] = {user_id: {} for user_id in user_ids}
    for row in rows:
        found[row.user_id][row.event_id] = row.title
    return [found[user_id] for user_id in user_ids]


async def _visible_profiles(
    db: Database, viewer: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> list[Any]:
    """People the viewer may see (`permissions.CAN_SEE`), None for the others."""
    statement = text(
        f"SELECT {PROFILE_COLUMNS} FROM matching.people p"
        f" WHERE p.user_id = ANY(:ids) AND {permissions.CAN_SEE}"
    )
    async with db.read() as session:
        rows = (await session.execute(statement, {"ids": list(user_ids), "viewer": viewer})).all()
    found = {row.user_id: row for row in rows}
    return [found.get(user_id) for user_id in user_ids]


async def _own_profiles(db: Database, user_ids: Sequence[uuid.UUID]) -> list[Any]:
    statement = text(f"SELECT {PROFILE_COLUMNS} FROM matching.people p WHERE p.user_id = ANY(:ids)")
    async with db.read() as session:
        rows = (await session.execute(statement, {"ids": list(user_ids)})).all()
    found = {row.user_id: row for row in rows}
    return [found.get(user_id) for user_id in user_ids]


class Context(RequestContext):
    def __init__(self, connection: HTTPConnection) -> None:
        super().__init__(connection)
        self.reset_loaders()

    def reset_loaders(self) -> None:
        db = self.db
        self.attending: DataLoader[uuid.UUID, dict[uuid.UUID, str]] = DataLoader(
            partial(_attending, db)
        )
        self.profile_row: DataLoader[uuid.UUID, Any] = DataLoader(partial(_own_profiles, db))
        self._visible: dict[uuid.UUID, DataLoader[uuid.UUID, Any]] = {}

    def visible_profile(self, viewer: uuid.UUID) -> "DataLoader[uuid.UUID, Any]":
        if viewer not in self._visible:
            self._visible[viewer] = DataLoader(partial(_visible_profiles, self.db, viewer))
        return self._visible[viewer]

    async def profile(self, user_id: uuid.UUID) -> Profile | None:
        """Someone as scoring reads them, with their upcoming events."""
        row = await self.profile_row.load(user_id)
        if row is None:
            return None
        return profile_of(row, await self.attending.load(user_id))


async def get_context(connection: HTTPConnection) -> Context:
    return Context(connection)


Info = strawberry.Info[Context, None]
