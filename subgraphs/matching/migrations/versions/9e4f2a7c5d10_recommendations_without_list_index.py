"""recommendations without the list index: the primary key serves the lists

Revision ID: 9e4f2a7c5d10
Revises: d832dbed3a5b
Create Date: 2026-11-26 16:30:00

A list is read by (user_id, context_id), a prefix of the primary key, and holds at
most `TOP_K` rows, sorted when read. The second index on the same prefix cost the
full recompute a fifth of its writing time (it is built anew on every run) for
nothing a reader needs.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9e4f2a7c5d10"
down_revision: str | None = "d832dbed3a5b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS matching.ix_recommendations_list")


def downgrade() -> None:
    op.execute(
        "CREATE INDEX ix_recommendations_list ON matching.recommendations"
        " (user_id, context_id, rank_score DESC)"
    )
