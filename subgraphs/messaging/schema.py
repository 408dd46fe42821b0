import strawberry
from strawberry.tools import merge_types

from shared.schema import federated_schema
from shared.validation import check_page_size
from subgraphs.messaging import resolvers
from subgraphs.messaging.context import Info
from subgraphs.messaging.notification_schema import (
    NotificationMutation,
    NotificationQuery,
    NotificationSubscription,
)
from subgraphs.messaging.types import Conversation


@strawberry.type
class ChatQuery:
    @strawberry.field(description="Messages sent to me that I have not read yet")
    async def unread_message_count(self, info: Info) -> int:
        viewer = await info.context.require_principal()
        return await resolvers.unread_message_count(info.context.db, viewer)

    @strawberry.field(description="My conversations, newest first")
    async def conversations(self, info: Info, first: int = 20) -> list[Conversation]:
        check_page_size(first)
        viewer = await info.context.require_principal()
        rows = await resolvers.conversations_of(info.context.db, viewer, first)
        return [Conversation.from_row(row) for row in rows]


# The chat and the notification feed each keep their own root fields.
Query = merge_types("Query", (ChatQuery, NotificationQuery))
Mutation = merge_types("Mutation", (NotificationMutation,))
Subscription = merge_types("Subscription", (NotificationSubscription,))

schema = federated_schema(query=Query, mutation=Mutation, subscription=Subscription)
