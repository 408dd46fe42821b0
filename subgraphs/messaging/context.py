"""The messaging request context and its DataLoaders: one SQL statement per kind of
thing a page needs (conversations, matches' conversations, participants, last
messages, unread counts, blocks, people), whatever the number of conversations or
matches on it."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import strawberry
from aiodataloader import DataLoader
from redis.asyncio import Redis
from sqlalchemy import or_, select, text
from starlette.requests import HTTPConnection

from shared.context import RequestContext
from subgraphs.messaging.models import (
    BlockRow,
    ConversationRow,
    MatchConversationRow,
    MessageRow,
    ParticipantRow,
)
from subgraphs.messaging.notification_models import RecipientRow

# An unread count stops there (a client shows "99+"): counting never scans more than
# this many messages per conversation.
UNREAD_CAP = 100

UNREAD_COUNTS = text(
    """
    SELECT p.conversation_id, (
        SELECT count(*) FROM (
            SELECT 1 FROM messaging.messages m
            WHERE m.conversation_id = p.conversation_id AND m.seq > p.last_read_seq
              AND m.author_id <> p.user_id AND m.deleted_at IS NULL
            LIMIT :cap) unread) AS unread
    FROM messaging.participants p
    JOIN messaging.conversations c ON c.id = p.conversation_id
    WHERE p.user_id = :viewer AND p.conversation_id = ANY(:ids)
      AND c.last_seq > p.last_read_seq
    """
)


@dataclass(frozen=True)
class Blocks:
    """The blocks that concern the viewer, both ways."""

    by_me: frozenset[uuid.UUID]
    of_me: frozenset[uuid.UUID]

    def between(self, other: uuid.UUID) -> bool:
        return other in self.by_me or other in self.of_me


class Context(RequestContext):
    def __init__(self, connection: HTTPConnection) -> None:
        super().__init__(connection)
        self.redis: Redis = connection.app.state.redis
        self.refresh()

    def refresh(self) -> None:
        """Fresh loaders. A WebSocket connection keeps its context for as long as it
        lives, so each live event is resolved with fresh ones."""
        self.conversation: DataLoader[uuid.UUID, ConversationRow | None] = DataLoader(
            self._my_conversations
        )
        self.match_conversation: DataLoader[uuid.UUID, ConversationRow | None] = DataLoader(
            self._match_conversations
        )
        self.participants: DataLoader[uuid.UUID, list[ParticipantRow]] = DataLoader(
            self._participants
        )
        self.last_message: DataLoader[uuid.UUID, MessageRow | None] = DataLoader(
            self._last_messages
        )
        self.unread_count: DataLoader[uuid.UUID, int] = DataLoader(self._unread_counts)
        self.person: DataLoader[uuid.UUID, RecipientRow | None] = DataLoader(self._people)
        self._blocks_loader: DataLoader[uuid.UUID, Blocks] = DataLoader(self._blocks_of)

    async def _viewer_id(self) -> uuid.UUID:
        return (await self.require_principal()).user_id

    async def _my_conversations(self, ids: Sequence[uuid.UUID]) -> list[ConversationRow | None]:
        """The conversations among `ids` the viewer takes part in (None for the others:
        a non-participant cannot tell them from conversations that do not exist)."""
        viewer = await self._viewer_id()
        async with self.db.read() as session:
            rows = await session.scalars(
                select(ConversationRow)
                .join(ParticipantRow)
                .where(ConversationRow.id.in_(ids), ParticipantRow.user_id == viewer)
            )
            found = {row.id: row for row in rows}
        return [found.get(id) for id in ids]

    async def _match_conversations(
        self, match_ids: Sequence[uuid.UUID]
    ) -> list[ConversationRow | None]:
        """The conversations of the matches `match_ids`, for a viewer who takes part in
        them (`permissions.py`); None for anyone else, and while messaging has not made
        one yet."""
        viewer = await self.principal()
        if viewer is None:
            return [None for _ in match_ids]
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(MatchConversationRow.match_id, ConversationRow)
                    .select_from(MatchConversationRow)
                    .join(
                        ConversationRow, ConversationRow.id == MatchConversationRow.conversation_id
                    )
                    .join(ParticipantRow, ParticipantRow.conversation_id == ConversationRow.id)
                    .where(
                        MatchConversationRow.match_id.in_(match_ids),
                        ParticipantRow.user_id == viewer.user_id,
                    )
                )
            ).all()
        found = {match_id: row for match_id, row in rows}
        for row in found.values():  # the fields that check access need not ask again
            self.conversation.prime(row.id, row)
        return [found.get(match_id) for match_id in match_ids]

    async def _participants(self, ids: Sequence[uuid.UUID]) -> list[list[ParticipantRow]]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(ParticipantRow)
                .where(ParticipantRow.conversation_id.in_(ids))
                .order_by(ParticipantRow.joined_at, ParticipantRow.user_id)
            )
            found: dict[uuid.UUID, list[ParticipantRow]] = defaultdict(list)
            for row in rows:
                found[row.conversation_id].append(row)
        return [found[id] for id in ids]

    async def _last_messages(self, ids: Sequence[uuid.UUID]) -> list[MessageRow | None]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(MessageRow)
                .join(
                    ConversationRow,
                    (ConversationRow.id == MessageRow.conversation_id)
                    & (ConversationRow.last_seq == MessageRow.seq),
                )
                .where(ConversationRow.id.in_(ids))
            )
            found = {row.conversation_id: row for row in rows}
        return [found.get(id) for id in ids]

    async def _unread_counts(self, ids: Sequence[uuid.UUID]) -> list[int]:
        viewer = await self._viewer_id()
        async with self.db.read() as session:
            rows = await session.execute(
                UNREAD_COUNTS, {"viewer": viewer, "ids": list(ids), "cap": UNREAD_CAP}
            )
            found: dict[uuid.UUID, int] = {id: int(n) for id, n in rows.tuples().all()}
        return [found.get(id, 0) for id in ids]

    async def _people(self, ids: Sequence[uuid.UUID]) -> list[RecipientRow | None]:
        async with self.db.read() as session:
            rows = await session.scalars(select(RecipientRow).where(RecipientRow.user_id.in_(ids)))
            found = {row.user_id: row for row in rows}
        return [found.get(id) for id in ids]

    async def _blocks_of(self, viewers: Sequence[uuid.UUID]) -> list[Blocks]:
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(BlockRow.blocker_id, BlockRow.blocked_id).where(
                        BlockRow.blocked,
                        or_(BlockRow.blocker_id.in_(viewers), BlockRow.blocked_id.in_(viewers)),
                    )
                )
            ).all()
        return [
            Blocks(
                by_me=frozenset(blocked for blocker, blocked in rows if blocker == viewer),
                of_me=frozenset(blocker for blocker, blocked in rows if blocked == viewer),
            )
            for viewer in viewers
        ]

    async def blocks(self) -> Blocks:
        """The blocks that concern the viewer (one statement per request, however many
        fields ask at once)."""
        return await self._blocks_loader.load(await self._viewer_id())


async def get_context(connection: HTTPConnection) -> Context:
    return Context(connection)


Info = strawberry.Info[Context, None]
