"""The database schema. Alembic migrations are written against this metadata."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite has no 64-bit autoincrement type other than INTEGER PRIMARY KEY.
BigPk = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


stations = Table(
    "stations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("registration", String(16), nullable=False),
    Column("security_profile", Integer, nullable=False, default=0),
    Column("password_hash", String(255)),
    Column("ocpp_version", String(8)),
    Column("vendor", String(50)),
    Column("model", String(50)),
    Column("serial_number", String(50)),
    Column("firmware_version", String(50)),
    Column("modem_iccid", String(20)),
    Column("modem_imsi", String(20)),
    Column("online", Boolean, nullable=False, default=False),
    Column("connected_since", UtcDateTime),
    Column("last_seen", UtcDateTime),
    Column("last_boot", UtcDateTime),
    Column("disconnect_reason", String(255)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("name", String(100)),
    Column("site_id", BigPk, ForeignKey("sites.id", ondelete="SET NULL"), index=True),
    Column("latitude", Float),
    Column("longitude", Float),
)

sites = Table(
    "sites",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("address", String(255)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("grid_capacity_w", Float),
    Column("created_at", UtcDateTime, nullable=False),
)

vehicles = Table(
    "vehicles",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("plate", String(20)),
    Column("fleet_number", String(50)),
    Column("fleet", String(100)),
    Column("battery_capacity_wh", Float),
    Column("created_at", UtcDateTime, nullable=False),
)

connectors = Table(
    "connectors",
    metadata,
    Column("station_id", String(64), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("status", String(20), nullable=False),
    Column("error_code", String(50)),
    Column("info", String(255)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    Column("status_at", UtcDateTime, nullable=False),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("error_code", String(50)),
    Column("info", String(255)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_status_history_station_time", "station_id", "timestamp"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("value", String(255), primary_key=True),
    Column("type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("expires_at", UtcDateTime),
    Column("group_id", String(255)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("vehicle_id", BigPk, ForeignKey("vehicles.id", ondelete="SET NULL"), index=True),
)

transactions = Table(
    "transactions",
    metadata,
    Column("pk", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    # 1.6: the integer id the CSMS assigned, as text; 2.0.1: the station's own transactionId.
    Column("station_transaction_id", String(64)),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("state", String(16), nullable=False),
    Column("id_token", String(255)),
    Column("token_type", String(20)),
    Column("auth_status", String(20)),
    Column("started_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("meter_start", Float),
    Column("meter_stop", Float),
    Column("stop_reason", String(32)),
    Column("charging_state", String(20)),
    Column("offline", Boolean, nullable=False, default=False),
    Column("last_seq_no", Integer),
    Column("reservation_id", Integer),
    Column("remote_start_command_id", BigPk),  # command_log.id of the remote start that asked for it
    Column("vehicle_id", BigPk),  # no foreign key: a deleted vehicle must not rewrite billing history
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("station_id", "station_transaction_id", name="uq_transactions_station_tx"),
    Index("ix_transactions_state", "state"),
    Index("ix_transactions_started_at", "started_at"),
    Index("ix_transactions_updated_at", "updated_at"),
    Index("ix_transactions_id_token_state", "id_token", "state"),
)

transaction_events = Table(
    "transaction_events",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("transaction_pk", BigPk, ForeignKey("transactions.pk", ondelete="CASCADE"), nullable=False),
    Column("seq_no", Integer, nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("trigger_reason", String(32)),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    UniqueConstraint("transaction_pk", "seq_no", name="uq_transaction_events_seq"),
)

meter_samples = Table(
    "meter_samples",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_pk", BigPk),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("measurand", String(48), nullable=False),
    Column("phase", String(8)),
    Column("location", String(8)),
    Column("context", String(24)),
    Column("unit", String(16)),
    Column("value", Float),
    Column("raw", Text),
    Index("ix_meter_samples_station_time", "station_id", "timestamp"),
    Index("ix_meter_samples_transaction", "transaction_pk"),
)

station_messages = Table(
    "station_messages",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("summary", String(500)),
    Column("payload", JSON, nullable=False),
    Index("ix_station_messages_station_kind_time", "station_id", "kind", "timestamp"),
)

message_receipts = Table(
    "message_receipts",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("message_key", String(64), primary_key=True),
    Column("received_at", UtcDateTime, nullable=False, index=True),
)

command_log = Table(
    "command_log",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("command", String(40), nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("reason", String(500)),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    # answered | call_error | timeout | offline | not_supported; NULL while the command is under way
    Column("outcome", String(16)),
    Column("status", String(40)),
    Column("response", JSON),
    Column("error", String(500)),
    Index("ix_command_log_station_time", "station_id", "requested_at"),
    Index("ix_command_log_requested_at", "requested_at"),
)

users = Table(
    "users",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(255)),
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("user_id", BigPk, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),  # shown in listings; the key itself is never stored
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 of a 256-bit random key
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

# Who changed what, and which commands were sent (core/audit.py); append-only.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32), nullable=False),
    Column("target_id", String(255), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_target", "target_type", "target_id"),
    Index("ix_audit_log_actor_at", "actor", "at"),
)
