import uuid

from shared.db import Database
from shared.errors import NotFound
from subgraphs.events.models import EventRow


async def get_event(db: Database, event_id: uuid.UUID) -> EventRow:
    async with db.transaction() as session:
        row = await session.get(EventRow, event_id)
    if row is None:
        raise NotFound("No such event")
    return row
