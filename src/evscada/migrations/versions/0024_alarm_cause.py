"""Consequential alarms: an alarm records the alarm it followed from (ISA-18.2 grouping, core/alarms)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 21:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alarms", sa.Column("cause_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
    op.create_index("ix_alarms_cause_id", "alarms", ["cause_id"])


def downgrade() -> None:
    op.drop_index("ix_alarms_cause_id", table_name="alarms")
    # In place (SQLite 3.35+ and PostgreSQL): a batch copy of the table would fire its children's ON DELETE.
    op.execute("ALTER TABLE alarms DROP COLUMN cause_id")
