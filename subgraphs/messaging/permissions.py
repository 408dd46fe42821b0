"""Who may do what in the chat, in one place.

- Only participants see a conversation, read, send, mark it read or subscribe to it;
  anyone else gets NOT_FOUND, exactly as for a conversation that does not exist.
- A match's conversation (`Match.conversation`) is seen by the match's two people
  only, the participants of their DIRECT conversation; it is null for anyone else
  (the loader `Context.match_conversation` selects it for a participant only).
- A DIRECT conversation between two people one of whom blocks the other is read-only
  both ways (FORBIDDEN), and neither can start one with the other.
- Only the creator of a GROUP adds or removes members; anyone may leave.
- A message is edited by its author within `EDIT_WINDOW`; deleted by its author, or in
  an EVENT room by the event's organizer or an admin.
"""

import uuid
from datetime import UTC, datetime, timedelta

from shared.auth import Principal
from shared.errors import Forbidden, NotFound
from subgraphs.messaging.context import Info
from subgraphs.messaging.models import ConversationRow, MessageRow

EDIT_WINDOW = timedelta(minutes=15)


def not_found() -> NotFound:
    return NotFound("No such conversation", reason="NO_SUCH_CONVERSATION")


def blocked() -> Forbidden:
    return Forbidden(
        "One of you blocks the other: this conversation is read-only", reason="BLOCKED"
    )


async def conversation_of_participant(info: Info, conversation_id: uuid.UUID) -> ConversationRow:
    """The conversation, if the viewer takes part in it; NOT_FOUND otherwise."""
    row = await info.context.conversation.load(conversation_id)
    if row is None:
        raise not_found()
    return row


async def is_read_only(info: Info, conversation: ConversationRow) -> bool:
    if conversation.kind != "direct":
        return False
    blocks = await info.context.blocks()
    participants = await info.context.participants.load(conversation.id)
    return any(blocks.between(p.user_id) for p in participants)


async def require_writable(info: Info, conversation: ConversationRow) -> None:
    if await is_read_only(info, conversation):
        raise blocked()


def require_creator(conversation: ConversationRow, viewer: Principal) -> None:
    if conversation.kind != "group":
        raise Forbidden("Only groups have members to manage", reason="NOT_A_GROUP")
    if conversation.creator_id != viewer.user_id:
        raise Forbidden("Only the group's creator manages its members", reason="NOT_CREATOR")


def require_editable(message: MessageRow, viewer: Principal) -> None:
    if message.author_id != viewer.user_id:
        raise Forbidden("You can only edit your own messages", reason="NOT_AUTHOR")
    if message.deleted_at is not None:
        raise Forbidden("A deleted message cannot be edited", reason="DELETED")
    if datetime.now(UTC) - message.created_at > EDIT_WINDOW:
        raise Forbidden("Messages can be edited for 15 minutes only", reason="EDIT_WINDOW_OVER")


async def can_delete(
    info: Info, conversation: ConversationRow, message: MessageRow, viewer: Principal
) -> bool:
    if message.author_id == viewer.user_id:
        return True
    if conversation.kind != "event":
        return False
    if viewer.is_admin:
        return True
    participants = await info.context.participants.load(conversation.id)
    return any(p.user_id == viewer.user_id and p.role == "organizer" for p in participants)
