"""notifications, their email and projections

Revision ID: 1429283854ee
Revises: f9c03cb1b6c8
Create Date: 2026-11-26 09:59:44.273406
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1429283854ee"
down_revision: str | None = "f9c03cb1b6c8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("notification_positions", schema="messaging")))
    op.create_table(
        "event_registrations",
        sa.Column("registration_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("registration_id", name=op.f("pk_event_registrations")),
        schema="messaging",
    )
    op.create_index(
        "ix_event_registrations_event_status",
        "event_registrations",
        ["event_id", "status"],
        unique=False,
        schema="messaging",
    )
    op.create_index(
        op.f("ix_event_registrations_user_id"),
        "event_registrations",
        ["user_id"],
        unique=False,
        schema="messaging",
    )
    op.create_table(
        "known_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_known_events")),
        schema="messaging",
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_preferences")),
        schema="messaging",
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "position",
            sa.BigInteger(),
            server_default=sa.text("nextval('messaging.notification_positions')"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("match_id", sa.Uuid(), nullable=True),
        sa.Column("registration_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        schema="messaging",
    )
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["user_id", "position"],
        unique=False,
        schema="messaging",
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_index(
        "ix_notifications_user_position",
        "notifications",
        ["user_id", "position"],
        unique=False,
        schema="messaging",
    )
    op.create_index(
        "uq_notifications_unread_dedupe_key",
        "notifications",
        ["user_id", "dedupe_key"],
        unique=True,
        schema="messaging",
        postgresql_where=sa.text("read_at IS NULL AND dedupe_key IS NOT NULL"),
    )
    op.create_table(
        "notification_recipients",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_recipients")),
        schema="messaging",
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
        schema="messaging",
    )
    op.create_table(
        "outgoing_mail",
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["messaging.notifications.id"],
            name=op.f("fk_outgoing_mail_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_outgoing_mail")),
        schema="messaging",
    )
    op.create_index(
        "ix_outgoing_mail_due",
        "outgoing_mail",
        ["next_attempt_at"],
        unique=False,
        schema="messaging",
        postgresql_where=sa.text("sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_outgoing_mail_due",
        table_name="outgoing_mail",
        schema="messaging",
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.drop_table("outgoing_mail", schema="messaging")
    op.drop_table("processed_events", schema="messaging")
    op.drop_table("notification_recipients", schema="messaging")
    op.drop_index(
        "uq_notifications_unread_dedupe_key",
        table_name="notifications",
        schema="messaging",
        postgresql_where=sa.text("read_at IS NULL AND dedupe_key IS NOT NULL"),
    )
    op.drop_index("ix_notifications_user_position", table_name="notifications", schema="messaging")
    op.drop_index(
        "ix_notifications_unread",
        table_name="notifications",
        schema="messaging",
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.drop_table("notifications", schema="messaging")
    op.drop_table("notification_preferences", schema="messaging")
    op.drop_table("known_events", schema="messaging")
    op.drop_index(
        op.f("ix_event_registrations_user_id"), table_name="event_registrations", schema="messaging"
    )
    op.drop_index(
        "ix_event_registrations_event_status", table_name="event_registrations", schema="messaging"
    )
    op.drop_table("event_registrations", schema="messaging")
    op.execute(sa.schema.DropSequence(sa.Sequence("notification_positions", schema="messaging")))
