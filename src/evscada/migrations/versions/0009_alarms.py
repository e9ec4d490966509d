"""alarms

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 09:19:17.653390
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=True),
        sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("shelved_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shelved_reason", sa.String(length=500), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alarms_active_key",
            ["key"],
            unique=True,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )
        batch_op.create_index("ix_alarms_raised_at", ["raised_at"], unique=False)
        batch_op.create_index("ix_alarms_shelved_until", ["shelved_until"], unique=False)
        batch_op.create_index("ix_alarms_state_priority", ["state", "priority", "raised_at"], unique=False)
        batch_op.create_index("ix_alarms_station_time", ["station_id", "raised_at"], unique=False)

    op.create_table(
        "station_maintenance",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_maintenance")),
    )
    with op.batch_alter_table("station_maintenance", schema=None) as batch_op:
        batch_op.create_index("ix_station_maintenance_open_until", ["ended_at", "until"], unique=False)
        batch_op.create_index("ix_station_maintenance_station", ["station_id", "ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("station_maintenance", schema=None) as batch_op:
        batch_op.drop_index("ix_station_maintenance_station")
        batch_op.drop_index("ix_station_maintenance_open_until")

    op.drop_table("station_maintenance")
    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_alarms_station_time")
        batch_op.drop_index("ix_alarms_state_priority")
        batch_op.drop_index("ix_alarms_shelved_until")
        batch_op.drop_index("ix_alarms_raised_at")
        batch_op.drop_index(
            "ix_alarms_active_key",
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )

    op.drop_table("alarms")
