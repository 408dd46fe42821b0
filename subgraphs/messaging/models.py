"""Tables of the chat: conversations, their participants and messages, the link from
each match to its DIRECT conversation, and the projection of blocks it keeps from the
users stream.

A conversation's `last_seq` is the sequence number of its latest message; sending
takes the conversation's row lock, so `seq` is gapless and commits in order
(`messaging.send_message`, one PostgreSQL function: see docs/architecture.md, "Hot
writes"). Read state is one pointer per participant (`last_read_seq`); unread counts
are counted from the messages after it, never kept per member.
"""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import subgraph_metadata
from shared.eventbus import processed_events_table


class Base(DeclarativeBase):
    metadata = subgraph_metadata("messaging")


# Event ids each of this subgraph's stream consumers (one group each) has applied.
processed_events = processed_events_table(Base.metadata)


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_activity", "last_activity_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(10))  # direct, group, event
    title: Mapped[str | None] = mapped_column(String(100))
    creator_id: Mapped[uuid.UUID | None]
    # One room per event, one DIRECT conversation per pair ("<smaller id>:<larger id>").
    event_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    direct_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    last_activity_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ParticipantRow(Base):
    __tablename__ = "participants"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging.conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    # member; organizer (of an EVENT room: may delete anyone's message)
    role: Mapped[str] = mapped_column(String(20), server_default="member")
    last_read_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("uq_messages_conversation_seq", "conversation_id", "seq", unique=True),
        Index(
            "uq_messages_client_message_id",
            "conversation_id",
            "author_id",
            "client_message_id",
            unique=True,
            postgresql_where=text("client_message_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging.conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[uuid.UUID]
    body: Mapped[str | None] = mapped_column(Text)  # NULL once deleted: a tombstone stays
    client_message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MatchConversationRow(Base):
    """The DIRECT conversation of a match's two people, recorded when `match.created`
    reaches this subgraph: what `Match.conversation` resolves by match id."""

    __tablename__ = "match_conversations"

    match_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messaging.conversations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BlockRow(Base):
    """Who blocks whom, from `user.blocked` / `user.unblocked` (users stream). A lifted
    block stays as `blocked = false`, so an older event arriving late cannot revive it."""

    __tablename__ = "blocks"

    blocker_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    blocked_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    blocked: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(BigInteger)
