"""Charging profiles the CSMS sets, and what 2.0.1 stations report about limits (core/energy)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigPk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "charging_profiles",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=40), nullable=True),
        sa.Column("command_id", BigPk, nullable=True),
        sa.Column("set_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=255), nullable=True),
        sa.Column("end_reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_profiles")),
    )
    op.create_index("ix_charging_profiles_station_status", "charging_profiles", ["station_id", "status"])
    op.create_table(
        "reported_charging_profiles",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reported_charging_profiles")),
    )
    op.create_index("ix_reported_charging_profiles_station", "reported_charging_profiles", ["station_id", "request_id"])
    op.create_table(
        "charging_limits",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("grid_critical", sa.Boolean(), nullable=True),
        sa.Column("schedules", sa.JSON(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charging_limits")),
    )
    op.create_index("ix_charging_limits_station_ended", "charging_limits", ["station_id", "ended_at"])
    op.create_table(
        "ev_charging_needs",
        sa.Column("id", BigPk, autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("transfer_mode", sa.String(length=20), nullable=False),
        sa.Column("departure_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("energy_amount_wh", sa.Float(), nullable=True),
        sa.Column("ev_min_current_a", sa.Float(), nullable=True),
        sa.Column("ev_max_current_a", sa.Float(), nullable=True),
        sa.Column("ev_max_voltage_v", sa.Float(), nullable=True),
        sa.Column("ev_max_power_w", sa.Float(), nullable=True),
        sa.Column("state_of_charge", sa.Float(), nullable=True),
        sa.Column("ev_energy_capacity_wh", sa.Float(), nullable=True),
        sa.Column("full_soc", sa.Float(), nullable=True),
        sa.Column("bulk_soc", sa.Float(), nullable=True),
        sa.Column("max_schedule_tuples", sa.Integer(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ev_charging_needs")),
    )
    op.create_index("ix_ev_charging_needs_station_evse", "ev_charging_needs", ["station_id", "evse_id"])


def downgrade() -> None:
    op.drop_table("ev_charging_needs")
    op.drop_table("charging_limits")
    op.drop_table("reported_charging_profiles")
    op.drop_table("charging_profiles")
