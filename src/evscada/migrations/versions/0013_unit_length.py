"""Units of 20 characters, as OCPP 2.0.1's UnitOfMeasureType allows.

A 2.0.1 station may name a unit of up to 20 characters; the columns held 16, so on PostgreSQL such a sample failed
its whole group commit. SQLite does not enforce VARCHAR lengths, and widening there would copy meter_samples
(ALTER TABLE cannot change a column's type), so only PostgreSQL is altered.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("meter_samples", "unit"), ("meter_aggregates", "unit"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _COLUMNS:
        op.alter_column(table, column, type_=sa.String(20), existing_type=sa.String(16), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _COLUMNS:
        op.execute(f"UPDATE {table} SET {column} = left({column}, 16) WHERE length({column}) > 16")
        op.alter_column(table, column, type_=sa.String(16), existing_type=sa.String(20), existing_nullable=True)
