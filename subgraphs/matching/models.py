"""The matching subgraph's tables.

- A projection of what matching needs from the users and events subgraphs (`people`,
  `blocks`, `known_events`, `registrations`), written only by the stream consumers
  (`consumers.py`) and the backfill. Every row keeps the version of the aggregate it
  came from; `people` keeps one version per field (`field_versions`), because
  `user.profile_updated` carries only the fields that changed: applying the events of
  one person out of order must neither lose a field nor bring an older value back.
- What people do here: `likes`, `passes`, `matches`.
- What the jobs compute (`recommendations`, derived data: the full recompute rebuilds
  it) and what tunes it (`impressions`), and the queue of people to re-score
  (`rescore_queue`).
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import subgraph_metadata
from shared.eventbus import Outbox, processed_events_table


class Base(DeclarativeBase):
    metadata = subgraph_metadata("matching")


outbox = Outbox(Base.metadata)
processed_events = processed_events_table(Base.metadata)

# The context of the recommendations that are not about one event.
OVERALL = uuid.UUID(int=0)


class PersonRow(Base):
    """A person as matching knows them, from the users stream."""

    __tablename__ = "people"
    __table_args__ = (
        # Candidate retrieval for one person: who offers what they seek, and so on.
        Index("ix_people_offers", "offers", postgresql_using="gin"),
        Index("ix_people_seeks", "seeks", postgresql_using="gin"),
        Index("ix_people_topics", "topics", postgresql_using="gin"),
        Index("ix_people_city", "city"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    headline: Mapped[str | None] = mapped_column(String(140))
    industry: Mapped[str | None] = mapped_column(String(100))
    seniority: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    interests: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    offers: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    seeks: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    # skills and interests together: what "shared interests" compares.
    topics: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    # Unknown until the sign-up arrives: fails closed, nobody is shown a stranger.
    visibility: Mapped[str] = mapped_column(String(20), default="private")
    role: Mapped[str] = mapped_column(String(20), default="member")
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # {field: version of the user that set it}; a field changes only for a newer version.
    field_versions: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BlockRow(Base):
    """Who blocked whom, from `user.blocked` / `user.unblocked` (versioned by the blocker)."""

    __tablename__ = "blocks"
    __table_args__ = (Index("ix_blocks_blocked", "blocked_id"),)

    blocker_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    blocked_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class KnownEventRow(Base):
    """An event's title, start and status, from the events stream."""

    __tablename__ = "known_events"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    organizer_id: Mapped[uuid.UUID | None]
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="published")
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class RegistrationRow(Base):
    """Each registration's latest status, from the events stream."""

    __tablename__ = "registrations"
    __table_args__ = (
        Index("ix_registrations_event_status", "event_id", "status"),
        Index("ix_registrations_user", "user_id"),
    )

    registration_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class LikeRow(Base):
    __tablename__ = "likes"
    __table_args__ = (Index("ix_likes_target", "target_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    target_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PassRow(Base):
    __tablename__ = "passes"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    target_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MatchRow(Base):
    """Two people who liked each other: one row per pair (`user_a` < `user_b`)."""

    __tablename__ = "matches"
    __table_args__ = (
        UniqueConstraint("user_a", "user_b"),
        Index("ix_matches_user_b", "user_b"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_a: Mapped[uuid.UUID]
    user_b: Mapped[uuid.UUID]
    event_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RecommendationRow(Base):
    """One of a person's top K candidates, overall (`context_id` = OVERALL) or within one
    upcoming event. `score` is the pair's reciprocal score; `rank_score` orders the list
    (the score after impression discounting and the popularity cap)."""

    __tablename__ = "recommendations"
    # A list is read by (user_id, context_id), a prefix of the primary key, and holds
    # at most TOP_K rows: sorting them when read costs less than an index on rank_score
    # that every full recompute would build anew.
    __table_args__ = (Index("ix_recommendations_candidate", "candidate_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    context_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    candidate_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    rank_score: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class ImpressionRow(Base):
    """How often a recommendation was shown (at most once per `IMPRESSION_WINDOW`)."""

    __tablename__ = "impressions"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    candidate_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    shown: Mapped[int] = mapped_column(Integer, default=1)
    last_shown_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class RescoreRow(Base):
    """A person whose recommendations are stale: the re-scoring job takes them."""

    __tablename__ = "rescore_queue"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
