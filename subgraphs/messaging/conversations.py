"""Starting conversations, managing a group's members, and listing mine.

Everybody named must be known to this subgraph (its copy of profiles, kept from the
users stream): an unknown id is NOT_FOUND, as in the users subgraph.
"""

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import BadUserInput, Forbidden, NotFound
from shared.pagination import cursor_values, encode_cursor
from subgraphs.messaging import live, permissions
from subgraphs.messaging.context import Info
from subgraphs.messaging.models import ConversationRow, ParticipantRow

MAX_GROUP_MEMBERS = 50
MAX_TITLE = 100
ORDER = [ConversationRow.last_activity_at, ConversationRow.id]


def direct_key(first: uuid.UUID, second: uuid.UUID) -> str:
    return ":".join(sorted((str(first), str(second))))


async def direct_conversation(
    session: AsyncSession, first: uuid.UUID, second: uuid.UUID
) -> tuple[ConversationRow, bool]:
    """The DIRECT conversation of the two people, made if they have none; and whether it
    was made now. Concurrent callers end with the same one (unique `direct_key`)."""
    key = direct_key(first, second)
    created = await session.scalar(
        insert(ConversationRow)
        .values(id=uuid.uuid4(), kind="direct", direct_key=key)
        .on_conflict_do_nothing()
        .returning(ConversationRow.id)
    )
    if created is not None:
        await session.execute(
            insert(ParticipantRow),
            [{"conversation_id": created, "user_id": user_id} for user_id in (first, second)],
        )
    row = await session.scalar(select(ConversationRow).where(ConversationRow.direct_key == key))
    assert row is not None
    return row, created is not None


async def _require_known(info: Info, user_ids: Sequence[uuid.UUID], field: str) -> None:
    people = await info.context.person.load_many(list(user_ids))
    unknown = [str(user_id) for user_id, person in zip(user_ids, people, strict=True) if not person]
    if unknown:
        raise NotFound(f"No such user: {', '.join(unknown)}", field=field)


async def start_direct_conversation(info: Info, *, user_id: uuid.UUID) -> ConversationRow:
    """Mine with `user_id`: the one we have, or a new one."""
    viewer = await info.context.require_principal()
    if user_id == viewer.user_id:
        raise BadUserInput("You cannot start a conversation with yourself", field="userId")
    await _require_known(info, [user_id], "userId")
    if (await info.context.blocks()).between(user_id):
        raise permissions.blocked()
    async with info.context.db.transaction() as session:
        row, created = await direct_conversation(session, viewer.user_id, user_id)
    if created:
        await live.publish_inbox_event(
            info.context.pubsub, [viewer.user_id, user_id], row.id, "ADDED", 0
        )
    return row


def _title(title: str) -> str:
    title = title.strip()
    if not 1 <= len(title) <= MAX_TITLE:
        raise BadUserInput(f"A title has 1 to {MAX_TITLE} characters", field="title")
    return title


async def create_group_conversation(
    info: Info, *, title: str, user_ids: list[uuid.UUID]
) -> ConversationRow:
    viewer = await info.context.require_principal()
    title = _title(title)
    members = list(dict.fromkeys(user_id for user_id in user_ids if user_id != viewer.user_id))
    if not 1 <= len(members) <= MAX_GROUP_MEMBERS - 1:
        raise BadUserInput(
            f"A group has 2 to {MAX_GROUP_MEMBERS} members, you included", field="userIds"
        )
    await _require_known(info, members, "userIds")
    everyone = [viewer.user_id, *members]
    async with info.context.db.transaction() as session:
        row = ConversationRow(id=uuid.uuid4(), kind="group", title=title, creator_id=viewer.user_id)
        session.add(row)
        await session.flush()
        await session.execute(
            insert(ParticipantRow),
            [{"conversation_id": row.id, "user_id": user_id} for user_id in everyone],
        )
        await session.refresh(row)
    await live.publish_inbox_event(info.context.pubsub, everyone, row.id, "ADDED", 0)
    return row


async def add_conversation_members(
    info: Info, *, conversation_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> ConversationRow:
    viewer = await info.context.require_principal()
    conversation = await permissions.conversation_of_participant(info, conversation_id)
    permissions.require_creator(conversation, viewer)
    wanted = list(dict.fromkeys(user_ids))
    await _require_known(info, wanted, "userIds")
    async with info.context.db.transaction() as session:
        locked = await session.get(ConversationRow, conversation_id, with_for_update=True)
        assert locked is not None
        present = set(
            await session.scalars(
                select(ParticipantRow.user_id).where(
                    ParticipantRow.conversation_id == conversation_id
                )
            )
        )
        added = [user_id for user_id in wanted if user_id not in present]
        if len(present) + len(added) > MAX_GROUP_MEMBERS:
            raise BadUserInput(f"A group has at most {MAX_GROUP_MEMBERS} members", field="userIds")
        if added:
            await session.execute(
                insert(ParticipantRow),
                [{"conversation_id": conversation_id, "user_id": u} for u in added],
            )
    for user_id in added:
        person = await info.context.person.load(user_id)
        await live.publish_conversation_event(
            info.context.pubsub, conversation_id, "MEMBER_ADDED", locked.last_seq,
            user=live.person_fields(user_id, person),
        )  # fmt: skip
    await live.publish_inbox_event(
        info.context.pubsub, added, conversation_id, "ADDED", locked.last_seq
    )
    info.context.refresh()
    return locked


async def _remove(info: Info, conversation: ConversationRow, user_id: uuid.UUID) -> bool:
    async with info.context.db.transaction() as session:
        removed = await session.scalar(
            delete(ParticipantRow)
            .where(
                ParticipantRow.conversation_id == conversation.id,
                ParticipantRow.user_id == user_id,
            )
            .returning(ParticipantRow.user_id)
        )
    if removed is None:
        return False
    person = await info.context.person.load(user_id)
    await live.publish_conversation_event(
        info.context.pubsub, conversation.id, "MEMBER_REMOVED", conversation.last_seq,
        user=live.person_fields(user_id, person),
    )  # fmt: skip
    await live.publish_inbox_event(
        info.context.pubsub, [user_id], conversation.id, "REMOVED", conversation.last_seq
    )
    info.context.refresh()
    return True


async def remove_conversation_member(
    info: Info, *, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> ConversationRow:
    viewer = await info.context.require_principal()
    conversation = await permissions.conversation_of_participant(info, conversation_id)
    permissions.require_creator(conversation, viewer)
    if user_id == viewer.user_id:
        raise BadUserInput("To leave the group, use leaveConversation", field="userId")
    await _remove(info, conversation, user_id)
    return conversation


async def leave_conversation(info: Info, *, conversation_id: uuid.UUID) -> bool:
    viewer = await info.context.require_principal()
    conversation = await permissions.conversation_of_participant(info, conversation_id)
    if conversation.kind != "group":
        raise Forbidden("Only groups can be left", reason="NOT_A_GROUP")
    return await _remove(info, conversation, viewer.user_id)


def cursor(row: ConversationRow) -> str:
    return encode_cursor(row.last_activity_at.isoformat(), row.id)


async def conversations_of(
    info: Info, *, first: int, after: str | None
) -> tuple[list[ConversationRow], bool]:
    """Mine, latest activity first: one statement (the fields' loaders batch the rest)."""
    viewer = await info.context.require_principal()
    query = (
        select(ConversationRow)
        .join(ParticipantRow)
        .where(ParticipantRow.user_id == viewer.user_id)
        .order_by(ConversationRow.last_activity_at.desc(), ConversationRow.id.desc())
        .limit(first + 1)
    )
    if after:
        query = query.where(tuple_(*ORDER) < tuple_(*cursor_values(ORDER, after)))
    async with info.context.db.transaction() as session:
        rows = list(await session.scalars(query))
    for row in rows:  # the fields that check access need not ask again
        info.context.conversation.prime(row.id, row)
    return rows[:first], len(rows) > first


async def unread_message_count(info: Info) -> int:
    """The badge: unread messages in all my conversations (each counted up to the cap)."""
    viewer = await info.context.require_principal()
    async with info.context.db.transaction() as session:
        ids = list(
            await session.scalars(
                select(ParticipantRow.conversation_id)
                .join(ConversationRow)
                .where(
                    ParticipantRow.user_id == viewer.user_id,
                    ConversationRow.last_seq > ParticipantRow.last_read_seq,
                )
            )
        )
    counts = await info.context.unread_count.load_many(ids)
    return sum(counts)
