"""remote start link

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 08:17:08.317385
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remote_start_command_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )


def downgrade() -> None:

    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_column("remote_start_command_id")
