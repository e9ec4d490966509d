"""A site's energy prices per period, which the departure planner charges in cheapest first (core/energy)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("site_limits", sa.Column("price", sa.Float(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM site_limits WHERE kind = 'price'")  # older code would read them as limitless periods
    # In place (SQLite 3.35+ and PostgreSQL): a batch copy of the table would fire its children's ON DELETE.
    op.execute("ALTER TABLE site_limits DROP COLUMN price")
