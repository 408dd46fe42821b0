import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select

from shared.auth import Principal
from shared.db import Database
from subgraphs.messaging.models import ConversationRow, MessageRow, ParticipantRow


async def unread_message_count(db: Database, viewer: Principal) -> int:
    async with db.transaction() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(MessageRow)
            .join(
                ParticipantRow,
                and_(
                    ParticipantRow.conversation_id == MessageRow.conversation_id,
                    ParticipantRow.user_id == viewer.user_id,
                ),
            )
            .where(
                MessageRow.sender_id != viewer.user_id,
                or_(
                    ParticipantRow.last_read_at.is_(None),
                    MessageRow.created_at > ParticipantRow.last_read_at,
                ),
            )
        )
    return count or 0


async def conversations_of(db: Database, viewer: Principal, first: int) -> list[ConversationRow]:
    async with db.transaction() as session:
        rows = await session.scalars(
            select(ConversationRow)
            .join(ParticipantRow)
            .where(ParticipantRow.user_id == viewer.user_id)
            .order_by(ConversationRow.created_at.desc())
            .limit(first)
        )
        return list(rows)


async def participants_of(
    db: Database, conversation_ids: Sequence[uuid.UUID]
) -> list[list[uuid.UUID]]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(ParticipantRow.conversation_id, ParticipantRow.user_id).where(
                ParticipantRow.conversation_id.in_(conversation_ids)
            )
        )
    by_conversation: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for conversation_id, user_id in rows:
        by_conversation[conversation_id].append(user_id)
    return [by_conversation[conversation_id] for conversation_id in conversation_ids]
