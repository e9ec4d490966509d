"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 06:42:28.844518
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "message_receipts",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "message_key", name=op.f("pk_message_receipts")),
    )
    with op.batch_alter_table("message_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_receipts_received_at"), ["received_at"], unique=False)

    op.create_table(
        "meter_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("measurand", sa.String(length=48), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=True),
        sa.Column("location", sa.String(length=8), nullable=True),
        sa.Column("context", sa.String(length=24), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_samples")),
    )
    with op.batch_alter_table("meter_samples", schema=None) as batch_op:
        batch_op.create_index("ix_meter_samples_station_time", ["station_id", "timestamp"], unique=False)
        batch_op.create_index("ix_meter_samples_transaction", ["transaction_pk"], unique=False)

    op.create_table(
        "station_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_messages")),
    )
    with op.batch_alter_table("station_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_station_messages_station_kind_time", ["station_id", "kind", "timestamp"], unique=False
        )

    op.create_table(
        "stations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("registration", sa.String(length=16), nullable=False),
        sa.Column("security_profile", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("ocpp_version", sa.String(length=8), nullable=True),
        sa.Column("vendor", sa.String(length=50), nullable=True),
        sa.Column("model", sa.String(length=50), nullable=True),
        sa.Column("serial_number", sa.String(length=50), nullable=True),
        sa.Column("firmware_version", sa.String(length=50), nullable=True),
        sa.Column("modem_iccid", sa.String(length=20), nullable=True),
        sa.Column("modem_imsi", sa.String(length=20), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("connected_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_boot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disconnect_reason", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
    )
    op.create_table(
        "status_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("info", sa.String(length=255), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_history")),
    )
    with op.batch_alter_table("status_history", schema=None) as batch_op:
        batch_op.create_index("ix_status_history_station_time", ["station_id", "timestamp"], unique=False)

    op.create_table(
        "tokens",
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("group_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("value", name=op.f("pk_tokens")),
    )
    op.create_table(
        "transactions",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("station_transaction_id", sa.String(length=64), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("id_token", sa.String(length=255), nullable=True),
        sa.Column("token_type", sa.String(length=20), nullable=True),
        sa.Column("auth_status", sa.String(length=20), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meter_start", sa.Float(), nullable=True),
        sa.Column("meter_stop", sa.Float(), nullable=True),
        sa.Column("stop_reason", sa.String(length=32), nullable=True),
        sa.Column("charging_state", sa.String(length=20), nullable=True),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("last_seq_no", sa.Integer(), nullable=True),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_transactions")),
        sa.UniqueConstraint("station_id", "station_transaction_id", name="uq_transactions_station_tx"),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index("ix_transactions_id_token_state", ["id_token", "state"], unique=False)
        batch_op.create_index("ix_transactions_started_at", ["started_at"], unique=False)
        batch_op.create_index("ix_transactions_state", ["state"], unique=False)
        batch_op.create_index("ix_transactions_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "connectors",
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("info", sa.String(length=255), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"], ["stations.id"], name=op.f("fk_connectors_station_id_stations"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("station_id", "evse_id", "connector_id", name=op.f("pk_connectors")),
    )
    op.create_table(
        "transaction_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("transaction_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("trigger_reason", sa.String(length=32), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_pk"],
            ["transactions.pk"],
            name=op.f("fk_transaction_events_transaction_pk_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction_events")),
        sa.UniqueConstraint("transaction_pk", "seq_no", name="uq_transaction_events_seq"),
    )


def downgrade() -> None:

    op.drop_table("transaction_events")
    op.drop_table("connectors")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_updated_at")
        batch_op.drop_index("ix_transactions_state")
        batch_op.drop_index("ix_transactions_started_at")
        batch_op.drop_index("ix_transactions_id_token_state")

    op.drop_table("transactions")
    op.drop_table("tokens")
    with op.batch_alter_table("status_history", schema=None) as batch_op:
        batch_op.drop_index("ix_status_history_station_time")

    op.drop_table("status_history")
    op.drop_table("stations")
    with op.batch_alter_table("station_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_station_messages_station_kind_time")

    op.drop_table("station_messages")
    with op.batch_alter_table("meter_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_samples_transaction")
        batch_op.drop_index("ix_meter_samples_station_time")

    op.drop_table("meter_samples")
    with op.batch_alter_table("message_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_receipts_received_at"))

    op.drop_table("message_receipts")
