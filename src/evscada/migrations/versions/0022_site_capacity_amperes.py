"""A site's grid connection in A per phase, beside (or instead of) its capacity in W (core/energy)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sites", sa.Column("grid_capacity_a", sa.Float(), nullable=True))


def downgrade() -> None:
    # In place (SQLite 3.35+ and PostgreSQL): a batch copy of the table would fire its children's ON DELETE.
    op.execute("ALTER TABLE sites DROP COLUMN grid_capacity_a")
