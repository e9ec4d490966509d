"""OCPP proxy: upstream CSMS per station or site, messages held while upstream is away, wider frame direction

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 22:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigPk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "upstream_csms",
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("upstream_station_id", sa.String(length=64), nullable=True),
        sa.Column("security_profile", sa.Integer(), nullable=False),
        sa.Column("password", sa.String(length=255), nullable=True),
        sa.Column("client_cert_file", sa.String(length=500), nullable=True),
        sa.Column("client_key_file", sa.String(length=500), nullable=True),
        sa.Column("allowed_actions", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("scope", "target", name=op.f("pk_upstream_csms")),
    )
    op.create_table(
        "upstream_buffer",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("frame", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_buffer")),
    )
    op.create_index("ix_upstream_buffer_station_id", "upstream_buffer", ["station_id", "id"])
    # upstream-in / upstream-out join in / out in the frame log
    with op.batch_alter_table("frame_log") as batch:
        batch.alter_column("direction", type_=sa.String(length=12), existing_type=sa.String(length=3))


def downgrade() -> None:
    with op.batch_alter_table("frame_log") as batch:
        batch.alter_column("direction", type_=sa.String(length=3), existing_type=sa.String(length=12))
    op.drop_index("ix_upstream_buffer_station_id", table_name="upstream_buffer")
    op.drop_table("upstream_buffer")
    op.drop_table("upstream_csms")
