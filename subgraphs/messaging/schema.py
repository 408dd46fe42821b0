from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.federation.schema_directives import ListSize
from strawberry.tools import merge_types

from shared.pagination import Connection
from shared.pubsub import Resync
from shared.schema import federated_schema
from shared.validation import check_page_size, parse_id
from subgraphs.messaging import conversations, live, messages, permissions, presence, rooms
from subgraphs.messaging.context import Info
from subgraphs.messaging.notification_schema import (
    NotificationMutation,
    NotificationQuery,
    NotificationSubscription,
)
from subgraphs.messaging.types import (
    Conversation,
    ConversationEvent,
    ConversationEventKind,
    InboxEvent,
    InboxEventKind,
    Match,
    Message,
)


@strawberry.type
class ChatQuery:
    @strawberry.field(
        description="My conversations, latest activity first",
        directives=[ListSize(slicing_arguments=["first"], sized_fields=["edges"])],  # type: ignore[call-arg]
    )
    async def conversations(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[Conversation]:
        check_page_size(first)
        rows, more = await conversations.conversations_of(info, first=first, after=after)
        return Connection.of(
            [(conversations.cursor(row), Conversation.from_row(row)) for row in rows], more
        )

    @strawberry.field(description="One of my conversations (NOT_FOUND for any other)")
    async def conversation(self, info: Info, id: strawberry.ID) -> Conversation:
        await info.context.require_principal()
        row = await permissions.conversation_of_participant(info, parse_id(id))
        return Conversation.from_row(row)

    @strawberry.field(description="Unread messages in all my conversations (the badge)")
    async def unread_message_count(self, info: Info) -> int:
        return await conversations.unread_message_count(info)


@strawberry.type
class ChatMutation:
    @strawberry.mutation(description="My DIRECT conversation with this person (made if new)")
    async def start_direct_conversation(self, info: Info, user_id: strawberry.ID) -> Conversation:
        row = await conversations.start_direct_conversation(
            info, user_id=parse_id(user_id, "userId")
        )
        return Conversation.from_row(row)

    @strawberry.mutation(
        description="The event's chat room, for its confirmed and checked-in attendees and "
        "its organizer (made on first use); NOT_FOUND for anyone else"
    )
    async def open_event_conversation(self, info: Info, event_id: strawberry.ID) -> Conversation:
        row = await rooms.open_event_conversation(info, event_id=parse_id(event_id, "eventId"))
        return Conversation.from_row(row)

    @strawberry.mutation(description="A group of up to 50 people, me included; I manage it")
    async def create_group_conversation(
        self, info: Info, title: str, user_ids: list[strawberry.ID]
    ) -> Conversation:
        ids = [parse_id(user_id, "userIds") for user_id in user_ids]
        row = await conversations.create_group_conversation(info, title=title, user_ids=ids)
        return Conversation.from_row(row)

    @strawberry.mutation(description="The group's creator adds people")
    async def add_conversation_members(
        self, info: Info, conversation_id: strawberry.ID, user_ids: list[strawberry.ID]
    ) -> Conversation:
        row = await conversations.add_conversation_members(
            info,
            conversation_id=parse_id(conversation_id, "conversationId"),
            user_ids=[parse_id(user_id, "userIds") for user_id in user_ids],
        )
        return Conversation.from_row(row)

    @strawberry.mutation(description="The group's creator removes someone")
    async def remove_conversation_member(
        self, info: Info, conversation_id: strawberry.ID, user_id: strawberry.ID
    ) -> Conversation:
        row = await conversations.remove_conversation_member(
            info,
            conversation_id=parse_id(conversation_id, "conversationId"),
            user_id=parse_id(user_id, "userId"),
        )
        return Conversation.from_row(row)

    @strawberry.mutation(description="Leave a group; true if I was in it")
    async def leave_conversation(self, info: Info, conversation_id: strawberry.ID) -> bool:
        return await conversations.leave_conversation(
            info, conversation_id=parse_id(conversation_id, "conversationId")
        )

    @strawberry.mutation(
        description="Send a message. Sending again with the same clientMessageId returns "
        "the first message instead of a second one."
    )
    async def send_message(
        self,
        info: Info,
        conversation_id: strawberry.ID,
        body: str,
        client_message_id: str | None = None,
    ) -> Message:
        row, author = await messages.send_message(
            info,
            conversation_id=parse_id(conversation_id, "conversationId"),
            body=body,
            client_message_id=client_message_id,
        )
        return Message.from_row(
            row,
            author_name=str(author["name"] or "Meetinity member"),
            author_avatar_url=author["avatar_url"],  # type: ignore[arg-type]
        )

    @strawberry.mutation(description="Change my message's text, within 15 minutes of sending")
    async def edit_message(self, info: Info, message_id: strawberry.ID, body: str) -> Message:
        row = await messages.edit_message(
            info, message_id=parse_id(message_id, "messageId"), body=body
        )
        return Message.from_row(row)

    @strawberry.mutation(
        description="Delete my message (organizers and admins: any in an EVENT room); "
        "a tombstone without its text stays"
    )
    async def delete_message(self, info: Info, message_id: strawberry.ID) -> Message:
        row = await messages.delete_message(info, message_id=parse_id(message_id, "messageId"))
        return Message.from_row(row)

    @strawberry.mutation(description="I have read the conversation up to this seq")
    async def mark_conversation_read(
        self, info: Info, conversation_id: strawberry.ID, up_to_seq: int
    ) -> Conversation:
        row = await messages.mark_conversation_read(
            info, conversation_id=parse_id(conversation_id, "conversationId"), up_to_seq=up_to_seq
        )
        return Conversation.from_row(row)

    @strawberry.mutation(
        description="Tell the others I am typing; returns when the indicator expires (6 s)"
    )
    async def set_typing(self, info: Info, conversation_id: strawberry.ID) -> datetime:
        return await messages.set_typing(
            info, conversation_id=parse_id(conversation_id, "conversationId")
        )


@strawberry.type
class ChatSubscription:
    @strawberry.subscription(
        description="What happens in one of my conversations, as it happens; ends when I leave it"
    )
    async def conversation_events(
        self, info: Info, conversation_id: strawberry.ID
    ) -> AsyncGenerator[ConversationEvent, None]:
        viewer = await info.context.require_principal()
        conversation_id_ = parse_id(conversation_id, "conversationId")
        await permissions.conversation_of_participant(info, conversation_id_)
        async with (
            info.context.pubsub.subscribe(live.conversation_channel(conversation_id_)) as updates,
            presence.watching(
                info.context.redis,
                info.context.settings.redis_prefix,
                conversation_id_,
                viewer.user_id,
            ),
        ):
            async for update in updates:
                info.context.refresh()  # each event resolves with fresh data
                if isinstance(update, Resync):
                    row = await permissions.conversation_of_participant(info, conversation_id_)
                    yield ConversationEvent(
                        kind=ConversationEventKind.RESYNC,
                        conversation_id=conversation_id,
                        seq=row.last_seq,
                        message=None,
                        read_up_to_seq=None,
                        typing_expires_at=None,
                    )
                    continue
                event = ConversationEvent.from_update(update)
                yield event
                if (
                    event.kind == ConversationEventKind.MEMBER_REMOVED
                    and event.person
                    and (event.person["user_id"] == str(viewer.user_id))
                ):
                    return

    @strawberry.subscription(description="Changes to any of my conversations")
    async def inbox_events(self, info: Info) -> AsyncGenerator[InboxEvent, None]:
        viewer = await info.context.require_principal()
        async with info.context.pubsub.subscribe(live.inbox_channel(viewer.user_id)) as updates:
            async for update in updates:
                info.context.refresh()
                if isinstance(update, Resync):
                    yield InboxEvent(kind=InboxEventKind.RESYNC, conversation_id=None, seq=0)
                    continue
                yield InboxEvent(
                    kind=InboxEventKind(update["kind"]),
                    conversation_id=strawberry.ID(str(update["conversation_id"])),
                    seq=int(update["seq"]),
                )


# The chat and the notification feed each keep their own root fields.
Query = merge_types("Query", (ChatQuery, NotificationQuery))
Mutation = merge_types("Mutation", (ChatMutation, NotificationMutation))
Subscription = merge_types("Subscription", (ChatSubscription, NotificationSubscription))

schema = federated_schema(query=Query, mutation=Mutation, subscription=Subscription, types=[Match])
