"""events, registrations, waitlists

Revision ID: 42ca6fb8a794
Revises:
Create Date: 2026-11-26 01:13:11.699788
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "42ca6fb8a794"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("waitlist_numbers", schema="events")))
    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("venue_name", sa.String(length=200), nullable=True),
        sa.Column("venue_address", sa.String(length=300), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("online_url", sa.String(length=2048), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("cover_image_url", sa.String(length=2048), nullable=True),
        sa.Column("registration_opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registration_closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("seats_taken", sa.Integer(), nullable=False),
        sa.Column("waitlist_length", sa.Integer(), nullable=False),
        sa.Column("seats_version", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "capacity IS NULL OR seats_taken <= capacity", name=op.f("ck_events_not_overbooked")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_events_ends_after_start")),
        sa.CheckConstraint(
            "seats_taken >= 0 AND waitlist_length >= 0", name=op.f("ck_events_counts_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        schema="events",
    )
    op.create_index(
        op.f("ix_events_organizer_id"), "events", ["organizer_id"], unique=False, schema="events"
    )
    op.create_index(
        "ix_events_status_starts_at",
        "events",
        ["status", "starts_at", "id"],
        unique=False,
        schema="events",
    )
    op.create_table(
        "outbox",
        sa.Column("position", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("aggregate_id", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox")),
        sa.UniqueConstraint("id", name=op.f("uq_outbox_id")),
        schema="events",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["position"],
        unique=False,
        schema="events",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "people",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("visibility", sa.String(length=20), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_people")),
        schema="events",
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
        schema="events",
    )
    op.create_table(
        "registrations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("ticket_code", sa.String(length=40), nullable=False),
        sa.Column("waitlist_number", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.events.id"], name=op.f("fk_registrations_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("ticket_code", name=op.f("uq_registrations_ticket_code")),
        schema="events",
    )
    op.create_index(
        "ix_registrations_event_status",
        "registrations",
        ["event_id", "status", "waitlist_number"],
        unique=False,
        schema="events",
    )
    op.create_index(
        "ix_registrations_user",
        "registrations",
        ["user_id", "created_at"],
        unique=False,
        schema="events",
    )
    op.create_index(
        "uq_registrations_live",
        "registrations",
        ["event_id", "user_id"],
        unique=True,
        schema="events",
        postgresql_where=sa.text(
            "status IN ('pending_approval', 'confirmed', 'waitlisted', 'checked_in')"
        ),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_registrations_live",
        table_name="registrations",
        schema="events",
        postgresql_where=sa.text(
            "status IN ('pending_approval', 'confirmed', 'waitlisted', 'checked_in')"
        ),
    )
    op.drop_index("ix_registrations_user", table_name="registrations", schema="events")
    op.drop_index("ix_registrations_event_status", table_name="registrations", schema="events")
    op.drop_table("registrations", schema="events")
    op.drop_table("processed_events", schema="events")
    op.drop_table("people", schema="events")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="events",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="events")
    op.drop_index("ix_events_status_starts_at", table_name="events", schema="events")
    op.drop_index(op.f("ix_events_organizer_id"), table_name="events", schema="events")
    op.drop_table("events", schema="events")
    op.execute(sa.schema.DropSequence(sa.Sequence("waitlist_numbers", schema="events")))
