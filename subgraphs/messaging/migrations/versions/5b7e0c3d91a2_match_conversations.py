"""match conversations: each match's DIRECT conversation, for Match.conversation

Revision ID: 5b7e0c3d91a2
Revises: c41d7e2a9f10
Create Date: 2026-11-26 16:10:00

Matches announced before this table existed already have their conversation: the
NEW_MATCH notifications name both the match and the conversation, so the link is
taken from them (a notification deleted since leaves that older match's
conversation null, as a match whose event has not arrived yet).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e0c3d91a2"
down_revision: str | None = "c41d7e2a9f10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_conversations",
        sa.Column("match_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging.conversations.id"],
            name=op.f("fk_match_conversations_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("match_id", name=op.f("pk_match_conversations")),
        schema="messaging",
    )
    op.create_index(
        op.f("ix_match_conversations_conversation_id"),
        "match_conversations",
        ["conversation_id"],
        unique=False,
        schema="messaging",
    )
    op.execute(
        "INSERT INTO messaging.match_conversations (match_id, conversation_id)"
        " SELECT DISTINCT ON (n.match_id) n.match_id, n.conversation_id"
        " FROM messaging.notifications n"
        " JOIN messaging.conversations c ON c.id = n.conversation_id"
        " WHERE n.kind = 'new_match' AND n.match_id IS NOT NULL"
        " ORDER BY n.match_id, n.created_at"
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_match_conversations_conversation_id"),
        table_name="match_conversations",
        schema="messaging",
    )
    op.drop_table("match_conversations", schema="messaging")
