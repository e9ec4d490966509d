"""sites vehicles locations

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 09:08:16.254429
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("grid_capacity_w", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("name", name=op.f("uq_sites_name")),
    )
    op.create_table(
        "vehicles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("plate", sa.String(length=20), nullable=True),
        sa.Column("fleet_number", sa.String(length=50), nullable=True),
        sa.Column("fleet", sa.String(length=100), nullable=True),
        sa.Column("battery_capacity_wh", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
        sa.UniqueConstraint("name", name=op.f("uq_vehicles_name")),
    )
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("site_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_stations_site_id"), ["site_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_stations_site_id_sites"), "sites", ["site_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("vehicle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_tokens_vehicle_id"), ["vehicle_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_tokens_vehicle_id_vehicles"), "vehicles", ["vehicle_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("vehicle_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_column("vehicle_id")

    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tokens_vehicle_id_vehicles"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_tokens_vehicle_id"))
        batch_op.drop_column("vehicle_id")

    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_stations_site_id_sites"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_stations_site_id"))
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
        batch_op.drop_column("site_id")
        batch_op.drop_column("name")

    op.drop_table("vehicles")
    op.drop_table("sites")
