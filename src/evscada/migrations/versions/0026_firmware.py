"""Firmware images, firmware update requests and campaigns (core/firmware)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigPk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "firmware_images",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("vendor", sa.String(length=50), nullable=True),
        sa.Column("model", sa.String(length=50), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("signing_certificate", sa.Text(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=255), nullable=False),
        sa.Column("uploaded_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_images")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_firmware_images_storage_key")),
    )
    op.create_table(
        "firmware_updates",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("image_id", BigPk, nullable=True),
        sa.Column("campaign_id", BigPk, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("station_status", sa.String(length=40), nullable=True),
        sa.Column("command_id", BigPk, nullable=True),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_expires_at", Time, nullable=False),
        sa.Column("downloads", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_updates")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_firmware_updates_token_hash")),
    )
    op.create_index("ix_firmware_updates_station_time", "firmware_updates", ["station_id", "requested_at"])
    op.create_index("ix_firmware_updates_campaign", "firmware_updates", ["campaign_id"])
    op.create_table(
        "firmware_status_history",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("update_id", BigPk, nullable=False),
        sa.Column("station_status", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.ForeignKeyConstraint(
            ["update_id"],
            ["firmware_updates.id"],
            name=op.f("fk_firmware_status_history_update_id_firmware_updates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_status_history")),
    )
    op.create_index("ix_firmware_status_history_update_id", "firmware_status_history", ["update_id"])
    op.create_table(
        "firmware_campaigns",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("image_id", BigPk, nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("pilot_size", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.String(length=5), nullable=True),
        sa.Column("window_end", sa.String(length=5), nullable=True),
        sa.Column("max_failures", sa.Integer(), nullable=True),
        sa.Column("max_failure_percent", sa.Float(), nullable=True),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("retry_interval_s", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("forgiven_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firmware_campaigns")),
    )
    op.create_index("ix_firmware_campaigns_image_id", "firmware_campaigns", ["image_id"])
    op.create_table(
        "firmware_campaign_stations",
        sa.Column("campaign_id", BigPk, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("update_id", BigPk, nullable=True),
        sa.Column("started_at", Time, nullable=True),
        sa.Column("finished_at", Time, nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["firmware_campaigns.id"],
            name=op.f("fk_firmware_campaign_stations_campaign_id_firmware_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "station_id", name="pk_firmware_campaign_stations"),
    )


def downgrade() -> None:
    op.drop_table("firmware_campaign_stations")
    op.drop_table("firmware_campaigns")
    op.drop_table("firmware_status_history")
    op.drop_table("firmware_updates")
    op.drop_table("firmware_images")
