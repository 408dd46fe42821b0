"""Sending, editing and deleting messages, reading up to one, and typing.

`send_message` is one call of the PostgreSQL function `messaging.send_message` (the
hot-write pattern, docs/architecture.md): it takes the conversation's lock, assigns
the next `seq`, writes the message, and returns who to tell; live events go out once
it has committed. Sending writes three rows whatever the room's size.
"""

import unicodedata
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from shared.errors import BadUserInput, Forbidden
from shared.ratelimit import Limit, RateLimiter
from subgraphs.messaging import live, permissions, presence
from subgraphs.messaging.context import Context, Info
from subgraphs.messaging.models import ConversationRow, MessageRow, ParticipantRow
from subgraphs.messaging.notification_models import RecipientRow
from subgraphs.messaging.notifications import (
    NewNotification,
    NotificationKind,
    mark_read,
    notify,
)

MAX_BODY = 4000
MAX_CLIENT_MESSAGE_ID = 100
# Line breaks and tabs are text; every other control character is refused.
_ALLOWED_CONTROLS = {"\n", "\t"}


def clean_body(body: str) -> str:
    """The body as stored: trimmed, 1 to 4000 characters, no control characters."""
    body = body.strip()
    if not 1 <= len(body) <= MAX_BODY:
        raise BadUserInput(f"A message has 1 to {MAX_BODY} characters", field="body")
    if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS for c in body):
        raise BadUserInput("A message cannot contain control characters", field="body")
    return body


def _client_message_id(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_CLIENT_MESSAGE_ID:
        raise BadUserInput(
            f"clientMessageId has 1 to {MAX_CLIENT_MESSAGE_ID} characters",
            field="clientMessageId",
        )
    return value


async def _rate_limit(context: Context, user_id: uuid.UUID) -> None:
    """At most CHAT_RATE_LIMIT_MESSAGES per window per sender, across every replica."""
    settings = context.settings
    limit = Limit(
        "chat-send",
        settings.chat_rate_limit_messages,
        max(1, round(settings.chat_rate_limit_window_seconds)),
    )
    await RateLimiter(context.redis, settings.redis_prefix).hit(limit, str(user_id))


async def send_message(
    info: Info, *, conversation_id: uuid.UUID, body: str, client_message_id: str | None
) -> tuple[MessageRow, dict[str, object]]:
    """The message (the first one when `client_message_id` was seen before) and the
    live fields of its author."""
    context = info.context
    viewer = await context.require_principal()
    body = clean_body(body)
    client_message_id = _client_message_id(client_message_id)
    await _rate_limit(context, viewer.user_id)
    answer = await context.db.call(
        "messaging.send_message", conversation_id, viewer.user_id, body, client_message_id
    )
    if answer["refusal"] == "NOT_FOUND":
        raise permissions.not_found()
    if answer["refusal"] == "BLOCKED":
        raise permissions.blocked()
    row = MessageRow(**dict(answer["message"]))
    author = await context.person.load(viewer.user_id)
    fields = live.message_fields(row, author)
    if not answer["duplicate"]:
        await live.publish_conversation_event(
            context.pubsub, conversation_id, "MESSAGE_SENT", row.seq, message=fields
        )
        await live.publish_inbox_event(
            context.pubsub, answer["participant_ids"], conversation_id, "MESSAGE", row.seq
        )
        await _notify_absent(info, row, answer["participant_ids"], author)
    return row, fields["author"]


def chat_dedupe_key(conversation_id: uuid.UUID) -> str:
    return f"conversation:{conversation_id}"


async def _notify_absent(
    info: Info, row: MessageRow, participant_ids: list[uuid.UUID], author: RecipientRow | None
) -> None:
    """A message becomes a notification for the participants not watching the
    conversation now: one per conversation until they read it (a new message refreshes
    it). EVENT rooms notify nobody: a message there would write a row per attendee."""
    context = info.context
    conversation = await context.conversation.load(row.conversation_id)
    if conversation is None or conversation.kind == "event":
        return
    others = [user_id for user_id in participant_ids if user_id != row.author_id]
    absent = await presence.absent(
        context.redis, context.settings.redis_prefix, row.conversation_id, others
    )
    if not absent:
        return
    name = author.name if author and author.name else "Someone"
    title = f"New messages from {name}"
    if conversation.kind == "group" and conversation.title:
        title = f"New messages in {conversation.title}"
    async with context.db.transaction() as session:
        await notify(
            session,
            context.pubsub,
            absent,
            NewNotification(
                kind=NotificationKind.NEW_MESSAGE,
                title=title,
                body=f"{name}: {row.body or ''}"[:280],
                conversation_id=row.conversation_id,
                dedupe_key=chat_dedupe_key(row.conversation_id),
            ),
        )


async def _message_in_my_conversation(
    info: Info, message_id: uuid.UUID
) -> tuple[MessageRow, ConversationRow]:
    async with info.context.db.transaction() as session:
        message = await session.get(MessageRow, message_id)
    conversation = (
        None if message is None else await info.context.conversation.load(message.conversation_id)
    )
    if message is None or conversation is None:
        raise permissions.not_found()
    return message, conversation


async def edit_message(info: Info, *, message_id: uuid.UUID, body: str) -> MessageRow:
    viewer = await info.context.require_principal()
    body = clean_body(body)
    message, conversation = await _message_in_my_conversation(info, message_id)
    permissions.require_editable(message, viewer)
    await permissions.require_writable(info, conversation)
    async with info.context.db.transaction() as session:
        edited: MessageRow | None = await session.scalar(
            update(MessageRow)
            .where(MessageRow.id == message_id, MessageRow.deleted_at.is_(None))
            .values(body=body, edited_at=func.now())
            .returning(MessageRow)
        )
        last_seq = await session.scalar(
            select(ConversationRow.last_seq).where(ConversationRow.id == conversation.id)
        )
    if edited is None:
        raise Forbidden("A deleted message cannot be edited", reason="DELETED")
    author = await info.context.person.load(viewer.user_id)
    await live.publish_conversation_event(
        info.context.pubsub, conversation.id, "MESSAGE_EDITED", last_seq or 0,
        message=live.message_fields(edited, author),
    )  # fmt: skip
    return edited


async def delete_message(info: Info, *, message_id: uuid.UUID) -> MessageRow:
    viewer = await info.context.require_principal()
    message, conversation = await _message_in_my_conversation(info, message_id)
    if not await permissions.can_delete(info, conversation, message, viewer):
        raise Forbidden("You can only delete your own messages", reason="NOT_AUTHOR")
    if message.deleted_at is not None:
        return message
    async with info.context.db.transaction() as session:
        deleted: MessageRow | None = await session.scalar(
            update(MessageRow)
            .where(MessageRow.id == message_id)
            .values(body=None, deleted_at=func.now())
            .returning(MessageRow)
        )
        last_seq = await session.scalar(
            select(ConversationRow.last_seq).where(ConversationRow.id == conversation.id)
        )
    assert deleted is not None
    author = await info.context.person.load(message.author_id)
    participants = await info.context.participants.load(conversation.id)
    await live.publish_conversation_event(
        info.context.pubsub, conversation.id, "MESSAGE_DELETED", last_seq or 0,
        message=live.message_fields(deleted, author),
    )  # fmt: skip
    # An unread message that goes lowers its readers' counts.
    await live.publish_inbox_event(
        info.context.pubsub,
        [p.user_id for p in participants if p.user_id != message.author_id],
        conversation.id,
        "UPDATED",
        last_seq or 0,
    )
    return deleted


async def mark_conversation_read(
    info: Info, *, conversation_id: uuid.UUID, up_to_seq: int
) -> ConversationRow:
    """Moves my read pointer forwards to `up_to_seq` (never back, never past the end)."""
    viewer = await info.context.require_principal()
    conversation = await permissions.conversation_of_participant(info, conversation_id)
    if up_to_seq < 0:
        raise BadUserInput("upToSeq cannot be negative", field="upToSeq")
    async with info.context.db.transaction() as session:
        moved = await session.scalar(
            update(ParticipantRow)
            .where(
                ParticipantRow.conversation_id == conversation_id,
                ParticipantRow.user_id == viewer.user_id,
                ParticipantRow.last_read_seq < func.least(up_to_seq, ConversationRow.last_seq),
                ConversationRow.id == conversation_id,
            )
            .values(last_read_seq=func.least(up_to_seq, ConversationRow.last_seq))
            .returning(ParticipantRow.last_read_seq)
        )
        if moved is not None and moved >= conversation.last_seq:
            # Read to the end: the "new messages" notification has done its job.
            await mark_read(session, viewer.user_id, dedupe_key=chat_dedupe_key(conversation_id))
    info.context.refresh()  # the counts and pointers changed
    if moved is not None:
        person = await info.context.person.load(viewer.user_id)
        await live.publish_conversation_event(
            info.context.pubsub, conversation_id, "READ", conversation.last_seq,
            user=live.person_fields(viewer.user_id, person), read_up_to_seq=moved,
        )  # fmt: skip
        await live.publish_inbox_event(
            info.context.pubsub, [viewer.user_id], conversation_id, "READ", conversation.last_seq
        )
    return conversation


async def set_typing(info: Info, *, conversation_id: uuid.UUID) -> datetime:
    """Tells the others I am typing, for `TYPING_SECONDS`; never stored."""
    viewer = await info.context.require_principal()
    conversation = await permissions.conversation_of_participant(info, conversation_id)
    await permissions.require_writable(info, conversation)
    expires_at = datetime.now(UTC) + timedelta(seconds=live.TYPING_SECONDS)
    person = await info.context.person.load(viewer.user_id)
    await live.publish_conversation_event(
        info.context.pubsub, conversation_id, "TYPING", conversation.last_seq, droppable=True,
        user=live.person_fields(viewer.user_id, person), expires_at=expires_at.isoformat(),
    )  # fmt: skip
    return expires_at
