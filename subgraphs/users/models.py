import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import subgraph_metadata
from shared.eventbus import Outbox


class Base(DeclarativeBase):
    metadata = subgraph_metadata("users")


outbox = Outbox(Base.metadata)


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stored lowercased, so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="member")
    name: Mapped[str] = mapped_column(String(100))
    headline: Mapped[str | None] = mapped_column(String(140))
    bio: Mapped[str | None] = mapped_column(Text)
    company: Mapped[str | None] = mapped_column(String(100))
    job_title: Mapped[str | None] = mapped_column(String(100))
    industry: Mapped[str | None] = mapped_column(String(100))
    seniority: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    interests: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    offers: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    seeks: Mapped[list[str]] = mapped_column(ARRAY(String(50)), default=list)
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    visibility: Mapped[str] = mapped_column(String(20), default="members")
    # Set by an admin (suspendUser): no log-in, no refresh, tokens revoked.
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # Grows with every change of the row (SQLAlchemy bumps it on each UPDATE it flushes);
    # the domain events about this user carry it so consumers can ignore stale ones.
    version: Mapped[int] = mapped_column(BigInteger, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class RefreshTokenRow(Base):
    """One refresh token. Tokens rotated from one login share a family; a reused
    (already rotated) token is a sign of theft and revokes its whole family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BlockRow(Base):
    """`blocker_id` blocked `blocked_id`. Blocking is one-way here; the subgraphs that
    consume `user.blocked` decide what it means for them (messaging: no new
    conversation, a read-only DIRECT conversation both ways)."""

    __tablename__ = "blocks"
    __table_args__ = (CheckConstraint("blocker_id <> blocked_id", name="not_self"),)

    blocker_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
