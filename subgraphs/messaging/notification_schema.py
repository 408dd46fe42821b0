"""The notification feed's part of the messaging schema: types, queries, mutations and
the live `notificationReceived`. `schema.py` merges these roots with the chat's."""

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.federation.schema_directives import ListSize

from shared.errors import BadUserInput
from shared.federation import EventRef
from shared.pagination import Connection, cursor_values, encode_cursor
from shared.pubsub import Resync
from shared.validation import check_page_size, parse_id
from subgraphs.messaging import notifications as feed
from subgraphs.messaging.context import Info
from subgraphs.messaging.notification_models import NotificationRow

NotificationKind = strawberry.enum(
    feed.NotificationKind, description="What a notification is about"
)

MAX_IDS_PER_MARK = 100


@strawberry.type(description="What a notification is about: open it there")
class NotificationTarget:
    event_id: strawberry.ID | None
    conversation_id: strawberry.ID | None
    match_id: strawberry.ID | None
    registration_id: strawberry.ID | None

    @strawberry.field
    def event(self) -> EventRef | None:
        return None if self.event_id is None else EventRef(id=self.event_id)


def _optional_id(value: object) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type(description="Something that happened that concerns me")
class Notification:
    id: strawberry.ID
    kind: NotificationKind  # type: ignore[valid-type]
    title: str
    body: str
    target: NotificationTarget
    created_at: datetime = strawberry.field(
        description="When it happened (for a batched notification, the latest occurrence)"
    )
    read_at: datetime | None

    @classmethod
    def from_row(cls, row: NotificationRow) -> "Notification":
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=feed.NotificationKind(row.kind),
            title=row.title,
            body=row.body,
            target=NotificationTarget(
                event_id=_optional_id(row.event_id),
                conversation_id=_optional_id(row.conversation_id),
                match_id=_optional_id(row.match_id),
                registration_id=_optional_id(row.registration_id),
            ),
            created_at=row.created_at,
            read_at=row.read_at,
        )

    @staticmethod
    def cursor(row: NotificationRow) -> str:
        return encode_cursor(row.position)


@strawberry.type(description="How I am told about one kind of notification")
class NotificationPreference:
    kind: NotificationKind  # type: ignore[valid-type]
    in_app: bool = strawberry.field(description="Always: every notification is in the app")
    email: bool


@strawberry.type
class MarkNotificationsReadResult:
    marked: int = strawberry.field(description="How many were unread and are now read")
    unread_count: int = strawberry.field(description="My unread notifications left")


def _preference(kind: feed.NotificationKind, email: bool) -> NotificationPreference:
    return NotificationPreference(kind=kind, in_app=True, email=email)


@strawberry.type
class NotificationQuery:
    @strawberry.field(
        description="My notifications, newest first",
        # (strawberry's mypy plugin takes ListSize's optional arguments for required ones)
        directives=[ListSize(slicing_arguments=["first"], sized_fields=["edges"])],  # type: ignore[call-arg]
    )
    async def notifications(
        self, info: Info, first: int = 20, after: str | None = None, unread_only: bool = False
    ) -> Connection[Notification]:
        check_page_size(first)
        viewer = await info.context.require_principal()
        after_position = (
            None if after is None else cursor_values([NotificationRow.position], after)[0]
        )
        async with info.context.db.transaction() as session:
            rows, more = await feed.page_of_notifications(
                session,
                viewer.user_id,
                first=first,
                after_position=after_position,
                unread_only=unread_only,
            )
        return Connection.of(
            [(Notification.cursor(row), Notification.from_row(row)) for row in rows], more
        )

    @strawberry.field(description="How many of my notifications are unread (the badge)")
    async def unread_notification_count(self, info: Info) -> int:
        viewer = await info.context.require_principal()
        async with info.context.db.transaction() as session:
            return await feed.unread_count(session, viewer.user_id)

    @strawberry.field(
        description="For each kind of notification, whether I get it by email",
        directives=[
            ListSize(assumed_size=len(feed.NotificationKind), require_one_slicing_argument=False)  # type: ignore[call-arg]
        ],
    )
    async def notification_preferences(self, info: Info) -> list[NotificationPreference]:
        viewer = await info.context.require_principal()
        async with info.context.db.transaction() as session:
            choices = await feed.email_choices(session, viewer.user_id)
        return [_preference(kind, email) for kind, email in choices.items()]


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(description="Marks the given notifications of mine read, or all of them")
    async def mark_notifications_read(
        self, info: Info, ids: list[strawberry.ID] | None = None, all: bool = False
    ) -> MarkNotificationsReadResult:
        viewer = await info.context.require_principal()
        if all == (ids is not None):
            raise BadUserInput("Give either ids or all: true", field="ids")
        if ids is not None and not 1 <= len(ids) <= MAX_IDS_PER_MARK:
            raise BadUserInput(f"Give between 1 and {MAX_IDS_PER_MARK} ids", field="ids")
        notification_ids = None if ids is None else [parse_id(id, "ids") for id in ids]
        async with info.context.db.transaction() as session:
            marked = await feed.mark_read(session, viewer.user_id, ids=notification_ids)
            left = await feed.unread_count(session, viewer.user_id)
        return MarkNotificationsReadResult(marked=marked, unread_count=left)

    @strawberry.mutation(description="Whether I get this kind of notification by email")
    async def set_notification_preference(
        self,
        info: Info,
        kind: NotificationKind,  # type: ignore[valid-type]
        email: bool,
    ) -> NotificationPreference:
        viewer = await info.context.require_principal()
        async with info.context.db.transaction() as session:
            await feed.choose_email(session, viewer.user_id, kind, email)
        return _preference(kind, email)


@strawberry.type
class NotificationSubscription:
    @strawberry.subscription(
        description="Each notification I get (or that comes back to the top); after a "
        "break in live delivery, those since then again"
    )
    async def notification_received(self, info: Info) -> AsyncGenerator[Notification, None]:
        viewer = await info.context.require_principal()
        channel = feed.notifications_channel(viewer.user_id)
        async with info.context.pubsub.subscribe(channel) as messages:
            async for message in messages:
                if isinstance(message, Resync):
                    # Redis was unreachable: what was notified meanwhile is sent again
                    # from the database (the client keeps notifications by id).
                    async with info.context.db.transaction() as session:
                        rows = await feed.notified_since(session, viewer.user_id, message.since)
                    for row in rows:
                        yield Notification.from_row(row)
                    continue
                yield Notification.from_row(feed.from_message(message))
