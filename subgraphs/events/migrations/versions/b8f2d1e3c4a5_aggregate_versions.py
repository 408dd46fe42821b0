"""aggregate versions: events, registrations, outbox; people.version for the projection

Revision ID: b8f2d1e3c4a5
Revises: 42ca6fb8a794
Create Date: 2026-11-26 10:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b8f2d1e3c4a5"
down_revision: str | None = "42ca6fb8a794"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONED = {"events": "1", "registrations": "1", "outbox": "0", "people": "0"}


def upgrade() -> None:
    for table, initial in VERSIONED.items():
        op.add_column(
            table,
            sa.Column("version", sa.BigInteger(), server_default=initial, nullable=False),
            schema="events",
        )


def downgrade() -> None:
    for table in VERSIONED:
        op.drop_column(table, "version", schema="events")
