"""What departure-aware depot charging needs of each vehicle: its departures, target state of charge, priority and
the most power it takes (core.model.Vehicle; core/access/departures.py reads the departures).

departure_time is a time of day in the operator's time zone (the setting operator_timezone), next_departure a one-off
in UTC. Existing vehicles get none of them and priority 0: charged as before until an operator says otherwise.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vehicles") as batch_op:
        batch_op.add_column(sa.Column("departure_time", sa.Time(), nullable=True))
        batch_op.add_column(sa.Column("next_departure", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("target_soc_pct", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("max_power_w", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vehicles") as batch_op:
        batch_op.drop_column("max_power_w")
        batch_op.drop_column("priority")
        batch_op.drop_column("target_soc_pct")
        batch_op.drop_column("next_departure")
        batch_op.drop_column("departure_time")
