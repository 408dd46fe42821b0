import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

import strawberry
from aiodataloader import DataLoader
from sqlalchemy import func, select
from starlette.requests import HTTPConnection

from shared.context import RequestContext
from shared.db import Database
from shared.errors import NotFound
from shared.loaders import Page, PageKey, pages_by_parent, rows_by_key
from subgraphs.events.models import EventRow, PersonRow, RegistrationRow


async def _latest_registrations(
    db: Database, user_id: uuid.UUID, event_ids: Sequence[uuid.UUID]
) -> list[RegistrationRow | None]:
    """Each event's most recent registration of one person (live, or how it ended)."""
    async with db.read() as session:
        rows = await session.scalars(
            select(RegistrationRow)
            .where(RegistrationRow.user_id == user_id, RegistrationRow.event_id.in_(event_ids))
            .order_by(RegistrationRow.event_id, RegistrationRow.created_at.desc())
            .distinct(RegistrationRow.event_id)
        )
        by_event = {row.event_id: row for row in rows}
    return [by_event.get(event_id) for event_id in event_ids]


async def _waitlist_positions(
    db: Database, registration_ids: Sequence[uuid.UUID]
) -> list[int | None]:
    """1 for the next person to get a seat, 2 for the one after, … (None when not waiting)."""
    waiting = (
        select(
            RegistrationRow.id,
            func.row_number()
            .over(partition_by=RegistrationRow.event_id, order_by=RegistrationRow.waitlist_number)
            .label("position"),
        )
        .where(
            RegistrationRow.status == "waitlisted",
            RegistrationRow.event_id.in_(
                select(RegistrationRow.event_id).where(RegistrationRow.id.in_(registration_ids))
            ),
        )
        .subquery()
    )
    async with db.read() as session:
        rows = await session.execute(
            select(waiting.c.id, waiting.c.position).where(waiting.c.id.in_(registration_ids))
        )
        positions = {row.id: row.position for row in rows}
    return [positions.get(registration_id) for registration_id in registration_ids]


class Context(RequestContext):
    def __init__(self, connection: HTTPConnection) -> None:
        super().__init__(connection)
        self.reset_loaders()

    def reset_loaders(self) -> None:
        """Forgets what was loaded: a WebSocket keeps one context for its whole life, so a
        subscription calls this before each update to serve current data."""
        db = self.db
        self.event_by_id: DataLoader[uuid.UUID, EventRow | None] = rows_by_key(
            db, EventRow, EventRow.id
        )
        self.waitlist_position: DataLoader[uuid.UUID, int | None] = DataLoader(
            partial(_waitlist_positions, db)
        )
        self._page_loaders: dict[tuple[Any, ...], DataLoader[PageKey, Any]] = {}
        self._my_registration: DataLoader[uuid.UUID, RegistrationRow | None] | None = None

    def registration_pages(
        self, parent: str, statuses: tuple[str, ...], hide_private: bool = False
    ) -> "DataLoader[PageKey, Page[RegistrationRow]]":
        """Pages of registrations of events (parent="event") or of people (parent="user"),
        oldest first; `hide_private` leaves out people whose profile is private."""
        key = ("registrations", parent, statuses, hide_private)
        if key not in self._page_loaders:
            column = RegistrationRow.event_id if parent == "event" else RegistrationRow.user_id
            conditions = [RegistrationRow.status.in_(statuses)]
            if hide_private:
                # Only people known not to be private: unknown counts as private.
                listed = select(PersonRow.user_id).where(PersonRow.visibility != "private")
                conditions.append(RegistrationRow.user_id.in_(listed))
            order = [RegistrationRow.created_at, RegistrationRow.id]
            self._page_loaders[key] = DataLoader(
                partial(pages_by_parent, self.db, RegistrationRow, column, order, conditions)
            )
        return self._page_loaders[key]

    def organized_event_pages(self, include_drafts: bool) -> "DataLoader[PageKey, Page[EventRow]]":
        key = ("organized", include_drafts)
        if key not in self._page_loaders:
            conditions = [] if include_drafts else [EventRow.status != "draft"]
            order = [EventRow.starts_at, EventRow.id]
            self._page_loaders[key] = DataLoader(
                partial(
                    pages_by_parent, self.db, EventRow, EventRow.organizer_id, order, conditions
                )
            )
        return self._page_loaders[key]

    async def event(self, event_id: uuid.UUID) -> EventRow:
        row = await self.event_by_id.load(event_id)
        if row is None:
            raise NotFound("No such event")
        return row

    async def my_registration(self, event_id: uuid.UUID) -> RegistrationRow | None:
        viewer = await self.principal()
        if viewer is None:
            return None
        if self._my_registration is None:
            self._my_registration = DataLoader(
                partial(_latest_registrations, self.db, viewer.user_id)
            )
        return await self._my_registration.load(event_id)


async def get_context(connection: HTTPConnection) -> Context:
    return Context(connection)


Info = strawberry.Info[Context, None]
