"""Station certificates issued and installed, their signing requests, and security profile upgrades
(core/certificates)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigPk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "certificate_requests",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("certificate_type", sa.String(length=40), nullable=False),
        sa.Column("csr", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("certificate_id", BigPk, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_requests")),
    )
    op.create_index("ix_certificate_requests_station_time", "certificate_requests", ["station_id", "received_at"])
    op.create_table(
        "station_certificates",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("request_id", BigPk, nullable=True),
        sa.Column("renewal_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renewal_problem", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_certificates")),
    )
    op.create_index("ix_station_certificates_not_after", "station_certificates", ["not_after"])
    op.create_index("ix_station_certificates_station", "station_certificates", ["station_id", "state"])
    op.create_table(
        "security_upgrades",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("from_profile", sa.Integer(), nullable=False),
        sa.Column("to_profile", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_upgrades")),
    )
    op.create_index("ix_security_upgrades_station_state", "security_upgrades", ["station_id", "state"])


def downgrade() -> None:
    op.drop_table("security_upgrades")
    op.drop_table("station_certificates")
    op.drop_table("certificate_requests")
