"""A token's charging priority, for sessions without a vehicle (core/energy load management)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 20:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("priority", sa.Integer(), nullable=True))


def downgrade() -> None:
    # In place (SQLite 3.35+ and PostgreSQL): a batch copy of the table would fire its children's ON DELETE.
    op.execute("ALTER TABLE tokens DROP COLUMN priority")
