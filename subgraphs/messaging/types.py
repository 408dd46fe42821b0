from datetime import datetime

import strawberry

from shared.federation import UserRef
from subgraphs.messaging.context import Info
from subgraphs.messaging.models import ConversationRow


@strawberry.type
class Conversation:
    id: strawberry.ID
    created_at: datetime
    row: strawberry.Private[ConversationRow]

    @classmethod
    def from_row(cls, row: ConversationRow) -> "Conversation":
        return cls(id=strawberry.ID(str(row.id)), created_at=row.created_at, row=row)

    @strawberry.field
    async def participants(self, info: Info) -> list[UserRef]:
        user_ids = await info.context.participants.load(self.row.id)
        return [UserRef(id=strawberry.ID(str(user_id))) for user_id in user_ids]
