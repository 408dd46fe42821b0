"""suspension: when an admin suspended the account

Revision ID: c5a2e7f19d40
Revises: b3d91f0a6c25
Create Date: 2026-11-26 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5a2e7f19d40"
down_revision: str | None = "b3d91f0a6c25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        schema="users",
    )


def downgrade() -> None:
    op.drop_column("users", "suspended_at", schema="users")
