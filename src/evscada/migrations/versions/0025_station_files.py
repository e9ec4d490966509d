"""Station files: requests for diagnostics and logs with their one-time upload tokens, and the files received
(core/files)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigPk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "file_requests",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("station_status", sa.String(length=40), nullable=True),
        sa.Column("command_id", BigPk, nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("file_id", BigPk, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_file_requests_token_hash")),
    )
    op.create_index("ix_file_requests_station_time", "file_requests", ["station_id", "requested_at"])
    op.create_table(
        "station_files",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("request_id", BigPk, nullable=False),
        sa.Column("command_id", BigPk, nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["file_requests.id"],
            name=op.f("fk_station_files_request_id_file_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_files")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_station_files_storage_key")),
    )
    op.create_index("ix_station_files_request_id", "station_files", ["request_id"])
    op.create_index("ix_station_files_received_at", "station_files", ["received_at"])
    op.create_index("ix_station_files_station_time", "station_files", ["station_id", "received_at"])


def downgrade() -> None:
    op.drop_table("station_files")
    op.drop_table("file_requests")
