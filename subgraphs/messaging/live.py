"""Live chat delivery: what is published on which channel, always after the commit.

- `conversation:<id>`: every event of the conversation (a message sent, edited or
  deleted, someone read, typed, joined or left), each with the conversation's `seq`
  at that moment, so a client that sees a gap fills it with `messages(after:)`.
- `inbox:<user id>`: one line per change to one of the person's conversations (a new
  message, read on another device, added or removed), for their conversation list.

Messages carry their author's name and avatar, looked up once by the sender's process,
so no subscriber's process (nor the router) looks them up again.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.pubsub import PubSub
from subgraphs.messaging.models import MessageRow
from subgraphs.messaging.notification_models import RecipientRow

TYPING_SECONDS = 6.0
_MESSAGE_FIELDS = ("id", "conversation_id", "seq", "author_id", "body", "client_message_id",
                   "created_at", "edited_at", "deleted_at")  # fmt: skip
_TIMES = ("created_at", "edited_at", "deleted_at")


def conversation_channel(conversation_id: uuid.UUID | str) -> str:
    return f"conversation:{conversation_id}"


def inbox_channel(user_id: uuid.UUID | str) -> str:
    return f"inbox:{user_id}"


def person_fields(user_id: uuid.UUID, person: RecipientRow | None) -> dict[str, Any]:
    return {
        "user_id": str(user_id),
        "name": person.name if person else None,
        "avatar_url": person.avatar_url if person else None,
    }


def message_fields(row: MessageRow, author: RecipientRow | None) -> dict[str, Any]:
    fields = {name: getattr(row, name) for name in _MESSAGE_FIELDS}
    return {**fields, "author": person_fields(row.author_id, author)}


def message_row(fields: dict[str, Any]) -> MessageRow:
    values = {name: fields[name] for name in _MESSAGE_FIELDS}
    for name in ("id", "conversation_id", "author_id"):
        values[name] = uuid.UUID(values[name])
    for name in _TIMES:
        values[name] = None if values[name] is None else datetime.fromisoformat(values[name])
    return MessageRow(**values)


async def publish_conversation_event(
    pubsub: PubSub,
    conversation_id: uuid.UUID,
    kind: str,
    seq: int,
    *,
    droppable: bool = False,
    **fields: Any,
) -> None:
    await pubsub.publish(
        conversation_channel(conversation_id),
        {"kind": kind, "conversation_id": str(conversation_id), "seq": seq, **fields},
        droppable=droppable,
    )


async def publish_inbox_event(
    pubsub: PubSub, user_ids: Iterable[uuid.UUID], conversation_id: uuid.UUID, kind: str, seq: int
) -> None:
    message = {"kind": kind, "conversation_id": str(conversation_id), "seq": seq}
    await pubsub.publish_many([inbox_channel(user_id) for user_id in user_ids], message)
