from datetime import datetime

import strawberry

from shared.federation import UserRef
from subgraphs.events.models import EventRow


@strawberry.federation.type(keys=["id"], description="Something people meet at")
class Event:
    id: strawberry.ID
    title: str
    starts_at: datetime
    organizer: UserRef

    @classmethod
    def from_row(cls, row: EventRow) -> "Event":
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            starts_at=row.starts_at,
            organizer=UserRef(id=strawberry.ID(str(row.organizer_id))),
        )
