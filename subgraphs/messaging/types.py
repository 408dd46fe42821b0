"""The chat's GraphQL types: conversations, messages, and the live events about them."""

import uuid
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet

from shared.federation import EventRef
from shared.pagination import Connection
from subgraphs.messaging import conversations, history, live, permissions
from subgraphs.messaging.context import Info
from subgraphs.messaging.models import ConversationRow, MessageRow


@strawberry.federation.type(
    name="User",
    keys=[Key(fields=FieldSet("id"), resolvable=False)],
    description="A person; resolved by the users subgraph",
)
class User:
    """A person. Messages and live events carry their author's name and avatar (from
    this subgraph's copy of profiles, kept from the users stream) and say so with
    `@provides`, so the router does not fetch the author from the users subgraph once
    per subscriber for every message."""

    id: strawberry.ID
    name: str = strawberry.federation.field(external=True)
    avatar_url: str | None = strawberry.federation.field(external=True)

    @classmethod
    def stub(cls, user_id: uuid.UUID) -> "User":
        """A reference the router resolves in the users subgraph."""
        return cls(id=strawberry.ID(str(user_id)), name="", avatar_url=None)

    @classmethod
    async def provided(cls, info: Info, user_id: uuid.UUID) -> "User":
        person = await info.context.person.load(user_id)
        return cls(
            id=strawberry.ID(str(user_id)),
            name=person.name if person else "Meetinity member",
            avatar_url=person.avatar_url if person else None,
        )


PROVIDES_PROFILE = ["name avatarUrl"]


@strawberry.enum(description="Who a conversation is between")
class ConversationKind(Enum):
    DIRECT = "direct"
    GROUP = "group"
    EVENT = "event"


@strawberry.type(description="A message; a deleted one stays as a tombstone without body")
class Message:
    id: strawberry.ID
    conversation_id: strawberry.ID
    seq: int = strawberry.field(
        description="Its place in the conversation: 1, 2, 3… without gaps, in send order"
    )
    body: str | None = strawberry.field(description="Null once deleted")
    client_message_id: str | None
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    row: strawberry.Private[MessageRow]
    # Carried by live events (so no subscriber looks the author up), else loaded.
    author_name: strawberry.Private[str | None] = None
    author_avatar_url: strawberry.Private[str | None] = None

    @classmethod
    def from_row(
        cls, row: MessageRow, author_name: str | None = None, author_avatar_url: str | None = None
    ) -> "Message":
        return cls(
            id=strawberry.ID(str(row.id)),
            conversation_id=strawberry.ID(str(row.conversation_id)),
            seq=row.seq,
            body=row.body,
            client_message_id=row.client_message_id,
            created_at=row.created_at,
            edited_at=row.edited_at,
            deleted=row.deleted_at is not None,
            row=row,
            author_name=author_name,
            author_avatar_url=author_avatar_url,
        )

    @strawberry.federation.field(provides=PROVIDES_PROFILE)
    async def author(self, info: Info) -> User:
        if self.author_name is not None:
            return User(
                id=strawberry.ID(str(self.row.author_id)),
                name=self.author_name,
                avatar_url=self.author_avatar_url,
            )
        return await User.provided(info, self.row.author_id)

    @strawberry.field(description="Whether I block its author (in a group, hide it if you like)")
    async def author_blocked_by_me(self, info: Info) -> bool:
        return self.row.author_id in (await info.context.blocks()).by_me

    @strawberry.field(description="The other participants who have read it (null in EVENT rooms)")
    async def read_by(self, info: Info) -> list[User] | None:
        conversation = await info.context.conversation.load(self.row.conversation_id)
        if conversation is None or conversation.kind == ConversationKind.EVENT.value:
            return None
        participants = await info.context.participants.load(self.row.conversation_id)
        return [
            User.stub(p.user_id)
            for p in participants
            if p.user_id != self.row.author_id and p.last_read_seq >= self.row.seq
        ]


@strawberry.type
class MessagePageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class MessageEdge:
    cursor: str
    node: Message


@strawberry.type(description="Messages in `seq` order, oldest first")
class MessageConnection:
    edges: list[MessageEdge]
    page_info: MessagePageInfo


@strawberry.type
class Conversation:
    id: strawberry.ID
    kind: ConversationKind
    title: str | None = strawberry.field(description="A group's title")
    created_at: datetime
    updated_at: datetime = strawberry.field(description="When its latest message was sent")
    last_seq: int = strawberry.field(description="The `seq` of its latest message (0: none)")
    row: strawberry.Private[ConversationRow]

    @classmethod
    def from_row(cls, row: ConversationRow) -> "Conversation":
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=ConversationKind(row.kind),
            title=row.title,
            created_at=row.created_at,
            updated_at=row.last_activity_at,
            last_seq=row.last_seq,
            row=row,
        )

    @strawberry.field(description="The event of an EVENT room")
    def event(self) -> EventRef | None:
        return (
            None
            if self.row.event_id is None
            else EventRef(id=strawberry.ID(str(self.row.event_id)))
        )

    @strawberry.field
    async def participants(self, info: Info) -> list[User]:
        rows = await info.context.participants.load(self.row.id)
        return [User.stub(row.user_id) for row in rows]

    @strawberry.field(
        description="Messages after my last read one, not mine, not deleted; 100 means 100 or more"
    )
    async def unread_count(self, info: Info) -> int:
        return await info.context.unread_count.load(self.row.id)

    @strawberry.field
    async def last_message(self, info: Info) -> Message | None:
        row = await info.context.last_message.load(self.row.id)
        return None if row is None else Message.from_row(row)

    @strawberry.field(description="The `seq` up to which I have read")
    async def last_read_seq(self, info: Info) -> int:
        viewer = await info.context.require_principal()
        rows = await info.context.participants.load(self.row.id)
        return next((row.last_read_seq for row in rows if row.user_id == viewer.user_id), 0)

    @strawberry.field(
        description="True when one of the two people of a DIRECT conversation blocks the "
        "other: nobody can write in it any more"
    )
    async def read_only(self, info: Info) -> bool:
        return await permissions.is_read_only(info, self.row)

    @strawberry.field(
        description="Oldest first. `first`/`after` reads forwards from a cursor; "
        "`last`/`before` backwards; with neither, the latest 20."
    )
    async def messages(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> MessageConnection:
        page = await history.page(
            info.context.db, self.row.id, first=first, after=after, last=last, before=before
        )
        edges = [MessageEdge(cursor=history.cursor(row), node=Message.from_row(row))
                 for row in page.rows]  # fmt: skip
        return MessageConnection(
            edges=edges,
            page_info=MessagePageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


ConversationConnection = Connection[Conversation]


@strawberry.federation.type(
    keys=[Key(fields=FieldSet("id"))],
    description="Two people who liked each other; the matching subgraph owns it",
)
class Match:
    id: strawberry.ID

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> "Match":
        return cls(id=id)

    @strawberry.field(
        description="The two people's DIRECT conversation: null for anyone else, and "
        "for the moment between the match and messaging making it"
    )
    async def conversation(self, info: Info) -> Conversation | None:
        try:
            match_id = uuid.UUID(str(self.id))
        except ValueError:
            return None
        row = await info.context.match_conversation.load(match_id)
        return None if row is None else Conversation.from_row(row)


@strawberry.enum(description="What happened in a conversation")
class ConversationEventKind(Enum):
    MESSAGE_SENT = "MESSAGE_SENT"
    MESSAGE_EDITED = "MESSAGE_EDITED"
    MESSAGE_DELETED = "MESSAGE_DELETED"
    READ = "READ"
    TYPING = "TYPING"
    MEMBER_ADDED = "MEMBER_ADDED"
    MEMBER_REMOVED = "MEMBER_REMOVED"
    RESYNC = "RESYNC"


@strawberry.type(
    description="One thing that happened in a conversation. `seq` is the conversation's "
    "latest message's at that moment: if it jumps past what you hold, fetch "
    "`messages(after:)`. RESYNC: live delivery was interrupted, fetch what you miss."
)
class ConversationEvent:
    kind: ConversationEventKind
    conversation_id: strawberry.ID
    seq: int
    message: Message | None = strawberry.field(description="For MESSAGE_* events")
    read_up_to_seq: int | None = strawberry.field(description="For READ: how far they read")
    typing_expires_at: datetime | None = strawberry.field(
        description="For TYPING: when to stop showing it unless another TYPING comes"
    )
    person: strawberry.Private[dict[str, str | None] | None] = None

    @strawberry.federation.field(
        provides=PROVIDES_PROFILE,
        description="Who read, typed, joined or left",
    )
    def user(self) -> User | None:
        if self.person is None or self.person["user_id"] is None:
            return None
        return User(
            id=strawberry.ID(self.person["user_id"]),
            name=self.person["name"] or "Meetinity member",
            avatar_url=self.person["avatar_url"],
        )

    @classmethod
    def from_update(cls, update: dict[str, object]) -> "ConversationEvent":
        message = update.get("message")
        author = message.get("author") if isinstance(message, dict) else None
        expires = update.get("expires_at")
        return cls(
            kind=ConversationEventKind(update["kind"]),
            conversation_id=strawberry.ID(str(update["conversation_id"])),
            seq=int(str(update["seq"])),
            message=None
            if not isinstance(message, dict)
            else Message.from_row(
                live.message_row(message),
                author_name=(author or {}).get("name") or "Meetinity member",
                author_avatar_url=(author or {}).get("avatar_url"),
            ),
            read_up_to_seq=None if update.get("read_up_to_seq") is None
            else int(str(update["read_up_to_seq"])),
            typing_expires_at=None if expires is None else datetime.fromisoformat(str(expires)),
            person=update.get("user"),  # type: ignore[arg-type]
        )  # fmt: skip


@strawberry.enum(description="What changed in one of my conversations")
class InboxEventKind(Enum):
    MESSAGE = "MESSAGE"
    READ = "READ"
    UPDATED = "UPDATED"
    ADDED = "ADDED"
    REMOVED = "REMOVED"
    RESYNC = "RESYNC"


@strawberry.type(
    description="A change to one of my conversations, for the conversation list. "
    "RESYNC: live delivery was interrupted, reload the list."
)
class InboxEvent:
    kind: InboxEventKind
    conversation_id: strawberry.ID | None
    seq: int

    @strawberry.field(description="Null when I am no longer in it (REMOVED) or on RESYNC")
    async def conversation(self, info: Info) -> Conversation | None:
        if self.conversation_id is None:
            return None
        row = await info.context.conversation.load(uuid.UUID(self.conversation_id))
        return None if row is None else Conversation.from_row(row)

    @strawberry.field(description="My unread count in that conversation, now")
    async def unread_count(self, info: Info) -> int:
        if self.conversation_id is None:
            return 0
        return await info.context.unread_count.load(uuid.UUID(self.conversation_id))

    @strawberry.field(description="My unread messages in all conversations (the badge), now")
    async def unread_message_count(self, info: Info) -> int:
        return await conversations.unread_message_count(info)
