"""aggregate versions: users.version, outbox.version

Revision ID: a7e1c0d2b3f4
Revises: 541e4b485a0e
Create Date: 2026-11-26 10:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7e1c0d2b3f4"
down_revision: str | None = "541e4b485a0e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("version", sa.BigInteger(), server_default="1", nullable=False),
        schema="users",
    )  # fmt: skip
    op.add_column(
        "outbox", sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        schema="users",
    )  # fmt: skip


def downgrade() -> None:
    op.drop_column("outbox", "version", schema="users")
    op.drop_column("users", "version", schema="users")
