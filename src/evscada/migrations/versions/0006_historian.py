"""historian

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:19:34.790369
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "historian_watermarks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_historian_watermarks")),
    )
    op.create_table(
        "meter_aggregates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("resolution", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("measurand", sa.String(length=48), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_value", sa.Float(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_aggregates")),
        sa.UniqueConstraint(
            "station_id",
            "resolution",
            "bucket_start",
            "evse_id",
            "connector_id",
            "measurand",
            "phase",
            name="uq_meter_aggregates_bucket",
        ),
    )
    with op.batch_alter_table("meter_aggregates", schema=None) as batch_op:
        batch_op.create_index("ix_meter_aggregates_resolution_bucket", ["resolution", "bucket_start"], unique=False)

    op.create_table(
        "station_connectivity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ocpp_version", sa.String(length=8), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_connectivity")),
    )
    with op.batch_alter_table("station_connectivity", schema=None) as batch_op:
        batch_op.create_index("ix_station_connectivity_station_at", ["station_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("station_connectivity", schema=None) as batch_op:
        batch_op.drop_index("ix_station_connectivity_station_at")

    op.drop_table("station_connectivity")
    with op.batch_alter_table("meter_aggregates", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_aggregates_resolution_bucket")

    op.drop_table("meter_aggregates")
    op.drop_table("historian_watermarks")
