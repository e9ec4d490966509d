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
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
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
    # Its supply, for load management (core/energy/layout.py); NULL: not known, or from the grid connection.
    Column("feeder_id", BigPk, ForeignKey("site_feeders.id", ondelete="SET NULL"), index=True),
    Column("max_power_w", Float),  # per EVSE
    Column("supply", String(2)),  # AC | DC
    Column("phases", Integer),  # AC: 1, 2 or 3
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
    Column("grid_capacity_a", Float),  # per phase
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
    # Departure-aware charging (migration 0020): a daily local time of day, a one-off UTC departure, what it needs.
    Column("departure_time", Time),
    Column("next_departure", UtcDateTime),
    Column("target_soc_pct", Float),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("max_power_w", Float),
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
    Column("priority", Integer),  # load management, for its sessions without a vehicle
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
    Column("seq_no", Integer),  # 2.0.1 only
    Column("event_type", String(16), nullable=False),
    Column("trigger_reason", String(32)),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    # What makes the event itself (core.charging.transactions.event_digest): a repeat is the same event again,
    # whatever its seqNo (migration 0016).
    Column("digest", String(32), nullable=False),
    UniqueConstraint("transaction_pk", "digest", name="uq_transaction_events_digest"),
)

# One row per MeterValues message and time (or per time inside a transaction message): where it was measured and
# when, and its sampled values as a JSON array of [measurand, phase, location, context, unit, value, raw] lists.
# Both indexes take one entry per reading instead of one per value, which is most of what a group commit costs
# SQLite (docs/performance.md, "SQLite's share").
meter_readings = Table(
    "meter_readings",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_pk", BigPk),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("samples", Text().with_variant(JSONB(), "postgresql"), nullable=False),
    Index("ix_meter_readings_station_time", "station_id", "timestamp"),
    Index("ix_meter_readings_transaction", "transaction_pk"),
)

# Not created from this metadata: the view (migration 0014) that unfolds meter_readings into one row per sampled
# value, which is what every reader queries. Its id is the reading's id * SAMPLE_ID_SPAN + the value's position,
# unique and rising in the order values were stored; reading_id lets a query bound the readings it unfolds.
SAMPLE_ID_SPAN = 1024
views = MetaData()
meter_samples = Table(
    "meter_samples",
    views,
    Column("id", BigInteger, primary_key=True),
    Column("reading_id", BigInteger, nullable=False),
    Column("station_id", String(64), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_pk", BigInteger),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("measurand", String(48), nullable=False),
    Column("phase", String(8)),
    Column("location", String(8)),
    Column("context", String(24)),
    Column("unit", String(20)),
    Column("value", Float),
    Column("raw", Text),
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

# Repeat detection for MeterValues. The key begins with the message's own time (gateway.session.repeat_key) and
# leads the primary key, so a commit's receipts go together at the end of the index (migration 0015).
message_receipts = Table(
    "message_receipts",
    metadata,
    Column("station_id", String(64), nullable=False),
    Column("message_key", String(64), nullable=False),
    Column("received_at", UtcDateTime, nullable=False, index=True),
    PrimaryKeyConstraint("message_key", "station_id"),
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

# Historian (issue 6): downsampled meter series, the aggregator's watermark, connectivity history.

meter_aggregates = Table(
    "meter_aggregates",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),  # lets retention delete in small batches
    Column("station_id", String(64), nullable=False),
    Column("resolution", Integer, nullable=False),  # bucket length in seconds: 60 or 900
    Column("bucket_start", UtcDateTime, nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("measurand", String(48), nullable=False),
    Column("phase", String(8), nullable=False),  # "" for none: NULLs never conflict in a unique key
    Column("unit", String(20)),
    Column("count", Integer, nullable=False),
    Column("sum", Float, nullable=False),
    Column("min", Float, nullable=False),
    Column("max", Float, nullable=False),
    Column("first_at", UtcDateTime, nullable=False),
    Column("first_value", Float, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    Column("last_value", Float, nullable=False),
    UniqueConstraint(
        "station_id",
        "resolution",
        "bucket_start",
        "evse_id",
        "connector_id",
        "measurand",
        "phase",
        name="uq_meter_aggregates_bucket",
    ),
    Index("ix_meter_aggregates_resolution_bucket", "resolution", "bucket_start"),
)

historian_watermarks = Table(
    "historian_watermarks",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
)

station_connectivity = Table(
    "station_connectivity",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("online", Boolean, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("ocpp_version", String(8)),
    Column("reason", String(255)),
    Index("ix_station_connectivity_station_at", "station_id", "at"),
)

# Webhooks (core/notifications/webhooks.py, integrations/webhooks/): the outbox the core writes in the same commit as
# the change, the subscriptions, and one delivery row per event and subscription (the delivery log).
event_outbox = Table(
    "event_outbox",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("event_type", String(64), nullable=False),
    Column("station_id", String(64), nullable=False),
    Column("transaction_pk", BigPk),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("data", JSON),
    Column("created_at", UtcDateTime, nullable=False),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),  # event types or patterns: "transaction.started", "transaction.*", "*"
    Column("secret", String(200), nullable=False),  # needed in clear to sign; never returned after creation
    Column("active", Boolean, nullable=False, default=True),
    Column("description", String(500)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("subscription_id", BigPk, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime),
    Column("last_attempt_at", UtcDateTime),
    Column("last_status_code", Integer),
    Column("last_error", String(500)),
    Column("delivered_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_webhook_deliveries_status_subscription", "status", "subscription_id", "id"),
    Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
)

# Notifications: the outbox and delivery log (one row per message, recipient and channel), the alarms each message
# carries, and the escalations waiting for an acknowledgement.
notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("recipient", String(100), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", String(500), nullable=False),
    Column("kind", String(16), nullable=False),  # alarm | digest | escalation | test
    Column("subject", String(500), nullable=False),
    Column("body", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # pending | held | folded | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(1000)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("folded_into", BigPk),
    Index("ix_notification_deliveries_status_next", "status", "next_attempt_at"),
    Index("ix_notification_deliveries_created_at", "created_at"),
    Index("ix_notification_deliveries_recipient_created", "recipient", "created_at"),
)

notification_alarms = Table(
    "notification_alarms",
    metadata,
    Column("delivery_id", BigPk, ForeignKey("notification_deliveries.id", ondelete="CASCADE"), primary_key=True),
    Column("alarm_id", BigPk, primary_key=True, index=True),
)

notification_escalations = Table(
    "notification_escalations",
    metadata,
    Column("alarm_id", BigPk, primary_key=True, autoincrement=False),
    Column("level", Integer, nullable=False),
    Column("due_at", UtcDateTime, nullable=False, index=True),
    Column("alarm", JSON, nullable=False),
)

# Alarms (core/alarms): one row per alarm, kept after it clears; at most one active row per condition key.
alarms = Table(
    "alarms",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False),
    Column("source", String(32), nullable=False),
    Column("station_id", String(64)),
    Column("site_id", BigPk),
    Column("evse_id", Integer),
    Column("connector_id", Integer),
    Column("priority", Integer, nullable=False),
    Column("message", String(500), nullable=False),
    Column("state", String(16), nullable=False),  # active | cleared
    Column("raised_at", UtcDateTime, nullable=False),
    Column("last_raised_at", UtcDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    Column("cleared_at", UtcDateTime),
    Column("acknowledged_at", UtcDateTime),
    Column("acknowledged_by", String(100)),
    Column("comment", Text),
    Column("shelved_until", UtcDateTime),
    Column("shelved_reason", String(500)),
    Column("suppressed", Boolean, nullable=False),
    Column("cause_id", BigPk),  # the alarm this one is a consequence of (core/alarms grouping); no FK: history
    Index(
        "ix_alarms_active_key",
        "key",
        unique=True,
        sqlite_where=text("state = 'active'"),
        postgresql_where=text("state = 'active'"),
    ),
    Index("ix_alarms_state_priority", "state", "priority", "raised_at"),
    Index("ix_alarms_station_time", "station_id", "raised_at"),
    Index("ix_alarms_raised_at", "raised_at"),
    Index("ix_alarms_shelved_until", "shelved_until"),
    Index("ix_alarms_cause_id", "cause_id"),
)

# Stations taken out of service by an operator; the open row (ended_at NULL) is the one in force.
station_maintenance = Table(
    "station_maintenance",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("until", UtcDateTime, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("started_by", String(100), nullable=False),
    Column("ended_at", UtcDateTime),
    Column("ended_by", String(100)),
    Index("ix_station_maintenance_station", "station_id", "ended_at"),
    Index("ix_station_maintenance_open_until", "ended_at", "until"),
)

# Local lists, reservations and 2.0.1 device models (the CSMS-initiated commands of issue 3).

local_lists = Table(
    "local_lists",
    metadata,
    Column("station_id", String(64), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, nullable=False),  # of the last list the station accepted; 0: none
    Column("attempted_version", Integer, nullable=False),  # highest ever sent: version numbers are never reused
    Column("update_type", String(16)),  # full | differential
    Column("group_id", String(255)),  # the token group a full update was limited to
    Column("sent_at", UtcDateTime),
    Column("command_id", BigPk),
    Column("reported_version", Integer),  # the station's answer to GetLocalListVersion
    Column("reported_at", UtcDateTime),
)

local_list_entries = Table(
    "local_list_entries",
    metadata,
    Column("station_id", String(64), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
    Column("token", String(255), primary_key=True),
    Column("type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("expires_at", UtcDateTime),
    Column("group_id", String(255)),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),  # also the reservationId sent to the station
    Column("station_id", String(64), nullable=False),  # no foreign key: history outlives a removed station
    Column("evse_id", Integer),  # 1.6: the connector; NULL: any
    Column("connector_type", String(20)),
    Column("id_token", String(255), nullable=False),
    Column("token_type", String(20), nullable=False),
    Column("group_id", String(255)),
    Column("expires_at", UtcDateTime, nullable=False),
    # pending | accepted | rejected | faulted | occupied | unavailable | failed | cancelled | removed | expired | used
    Column("status", String(16), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("reason", String(500)),
    Column("command_id", BigPk),
    Column("cancel_command_id", BigPk),
    Column("transaction_pk", BigPk),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_reservations_station_status", "station_id", "status"),
    Index("ix_reservations_status_expires", "status", "expires_at"),
)

device_variables = Table(
    "device_variables",
    metadata,
    # Absent instances are stored as '' and absent EVSE / connector as 0 (2.0.1 numbers them from 1), so the
    # key has no NULLs and a repeated report replaces its attribute instead of adding one.
    Column("station_id", String(64), ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True),
    Column("component", String(50), primary_key=True),
    Column("component_instance", String(50), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("variable", String(50), primary_key=True),
    Column("variable_instance", String(50), primary_key=True),
    Column("attribute_type", String(8), primary_key=True),
    Column("value", String(2500)),
    Column("mutability", String(10)),
    Column("persistent", Boolean),
    Column("constant", Boolean),
    Column("data_type", String(20)),
    Column("unit", String(16)),
    Column("min_limit", Float),
    Column("max_limit", Float),
    Column("values_list", String(1000)),
    Column("supports_monitoring", Boolean),
    Column("request_id", Integer),
    Column("reported_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Web console: browser sessions (the cookie's token is kept only as a hash).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 of a 256-bit random token
    Column("user_id", BigPk, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
)

# Message logging switched on per station by an operator, and the frames kept meanwhile.
frame_logging = Table(
    "frame_logging",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("since", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
)

frame_log = Table(
    "frame_log",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("direction", String(12), nullable=False),  # in | out | upstream-in | upstream-out
    Column("frame", Text, nullable=False),
    Index("ix_frame_log_station_at", "station_id", "at"),
)

# Who changed what, and which commands were sent (core/access/audit.py); append-only.
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

# Energy (core/energy): charging profiles the CSMS set, and what 2.0.1 stations report about limits.
charging_profiles = Table(
    "charging_profiles",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),  # no foreign key: history outlives a removed station
    Column("evse_id", Integer),  # 0: the station; NULL: a remote start's, until its transaction starts
    Column("profile_id", Integer, nullable=False),  # the chargingProfileId the station knows
    Column("stack_level", Integer, nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("transaction_id", String(64)),  # a Tx profile's; a remote start's once its transaction started
    Column("valid_to", UtcDateTime),
    Column("profile", JSON, nullable=False),  # the whole profile (storage/energy/codec.py)
    Column("via", String(16), nullable=False),  # set | remote_start
    # pending | accepted | rejected | failed | cleared | replaced | expired
    Column("status", String(16), nullable=False),
    Column("answer", String(40)),
    Column("command_id", BigPk),
    Column("set_by", String(255), nullable=False),
    Column("reason", String(500)),
    Column("set_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("ended_by", String(255)),
    Column("end_reason", String(200)),
    Index("ix_charging_profiles_station_status", "station_id", "status"),
)

reported_charging_profiles = Table(
    "reported_charging_profiles",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("request_id", Integer, nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("source", String(20), nullable=False),  # EMS | Other | SO | CSO (2.1: any word of 20)
    Column("profile", JSON, nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
    Index("ix_reported_charging_profiles_station", "station_id", "request_id"),
)

charging_limits = Table(
    "charging_limits",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("evse_id", Integer),  # NULL: the station as a whole
    Column("source", String(20), nullable=False),
    Column("grid_critical", Boolean),
    Column("schedules", JSON, nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("end_reason", String(16)),  # cleared | replaced
    Index("ix_charging_limits_station_ended", "station_id", "ended_at"),
)

ev_charging_needs = Table(
    "ev_charging_needs",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("transfer_mode", String(20), nullable=False),
    Column("departure_time", UtcDateTime),
    Column("energy_amount_wh", Float),
    Column("ev_min_current_a", Float),
    Column("ev_max_current_a", Float),
    Column("ev_max_voltage_v", Float),
    Column("ev_max_power_w", Float),
    Column("state_of_charge", Float),
    Column("ev_energy_capacity_wh", Float),
    Column("full_soc", Float),
    Column("bulk_soc", Float),
    Column("max_schedule_tuples", Integer),
    Column("reported_at", UtcDateTime, nullable=False),
    Index("ix_ev_charging_needs_station_evse", "station_id", "evse_id"),
)

site_limits = Table(
    "site_limits",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("site_id", BigPk, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # period (of the load curve) | curtailment | price (the tariff)
    Column("starts_at", UtcDateTime),  # a period's start; when a curtailment was imposed
    Column("ends_at", UtcDateTime),  # NULL: an open-ended period
    Column("max_a", Float),  # per phase
    Column("max_w", Float),
    Column("set_by", String(255), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
    Column("price", Float),  # a price period's, per kWh
    Index("ix_site_limits_site", "site_id"),
)

# Station files (core/files): each request to a station for a file, with its one-time upload token (kept as a
# SHA-256), and the files received. station_id is not a foreign key: files outlive a deleted station.
file_requests = Table(
    "file_requests",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),  # diagnostics | diagnostics_log | security_log
    Column("status", String(20), nullable=False),  # core.files.RequestStatus
    Column("station_status", String(40)),  # the station's last word (Uploading, UploadFailure ...)
    Column("command_id", BigPk),  # command_log.id of the GetDiagnostics / GetLog
    Column("filename", String(255)),  # as the station announced it
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_expires_at", UtcDateTime, nullable=False),
    Column("token_used_at", UtcDateTime),
    Column("requested_by", String(255), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("file_id", BigPk),  # station_files.id once received
    Index("ix_file_requests_station_time", "station_id", "requested_at"),
)

station_files = Table(
    "station_files",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("request_id", BigPk, ForeignKey("file_requests.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("command_id", BigPk),
    Column("filename", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("received_at", UtcDateTime, nullable=False, index=True),
    Column("storage_key", String(255), nullable=False, unique=True),
    Index("ix_station_files_station_time", "station_id", "received_at"),
)

# Certificates (core/certificates): stations' signing requests, the certificates issued or installed for them, and
# security profile upgrades under way (the new password's hash is accepted beside the old one until it is used).
certificate_requests = Table(
    "certificate_requests",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("certificate_type", String(40), nullable=False),
    Column("csr", Text, nullable=False),
    Column("status", String(20), nullable=False),  # core.certificates.model.RequestStatus
    Column("reason", String(500)),
    Column("certificate_id", BigPk),
    Column("received_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_certificate_requests_station_time", "station_id", "received_at"),
)

station_certificates = Table(
    "station_certificates",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("subject", String(500), nullable=False),
    Column("issuer", String(500), nullable=False),
    Column("not_before", UtcDateTime, nullable=False),
    Column("not_after", UtcDateTime, nullable=False, index=True),
    Column("state", String(20), nullable=False),  # core.certificates.model.CertificateState
    Column("source", String(20), nullable=False),  # builtin | external
    Column("issued_at", UtcDateTime, nullable=False),
    Column("pem", Text, nullable=False),
    Column("request_id", BigPk),
    Column("renewal_requested_at", UtcDateTime),
    Column("renewal_problem", String(500)),
    Index("ix_station_certificates_station", "station_id", "state"),
)

security_upgrades = Table(
    "security_upgrades",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("from_profile", Integer, nullable=False),
    Column("to_profile", Integer, nullable=False),
    Column("password_hash", String(255)),
    Column("state", String(20), nullable=False),  # pending | completed | cancelled
    Column("requested_at", UtcDateTime, nullable=False),
    Column("requested_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("detail", String(500)),
    Index("ix_security_upgrades_station_state", "station_id", "state"),
)

# Firmware (core/firmware): images kept in the file store, update requests with their download tokens (kept as a
# SHA-256) and the stations' status words, and campaigns with their stations in batches.
firmware_images = Table(
    "firmware_images",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("version", String(50), nullable=False),
    Column("vendor", String(50)),
    Column("model", String(50)),
    Column("filename", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("storage_key", String(255), nullable=False, unique=True),
    Column("signing_certificate", Text),
    Column("signature", Text),
    Column("uploaded_by", String(255), nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=False),
)

firmware_updates = Table(
    "firmware_updates",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),  # the OCPP requestId
    Column("station_id", String(64), nullable=False),
    Column("image_id", BigPk),  # no foreign key: the history outlives a deleted image
    Column("campaign_id", BigPk),
    Column("kind", String(16), nullable=False),  # update | signed | publish | unpublish
    Column("status", String(16), nullable=False),  # core.firmware.UpdateStatus
    Column("station_status", String(40)),
    Column("command_id", BigPk),
    Column("version", String(50), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_expires_at", UtcDateTime, nullable=False),
    Column("downloads", Integer, nullable=False, server_default=text("0")),
    Column("requested_by", String(255), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_firmware_updates_station_time", "station_id", "requested_at"),
    Index("ix_firmware_updates_campaign", "campaign_id"),
)

firmware_status_history = Table(
    "firmware_status_history",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column(
        "update_id", BigPk, ForeignKey("firmware_updates.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("station_status", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)

firmware_campaigns = Table(
    "firmware_campaigns",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    # No foreign key: a finished campaign's history outlives its image (live campaigns keep theirs: core refuses).
    Column("image_id", BigPk, nullable=False, index=True),
    Column("target", JSON, nullable=False),  # core.firmware.TargetSelection as chosen
    Column("pilot_size", Integer, nullable=False),
    Column("batch_size", Integer, nullable=False),
    Column("window_start", String(5)),  # HH:MM in the operator's time zone; NULL: any time
    Column("window_end", String(5)),
    Column("max_failures", Integer),
    Column("max_failure_percent", Float),
    Column("signed", Boolean, nullable=False),
    Column("retries", Integer),
    Column("retry_interval_s", Integer),
    Column("status", String(16), nullable=False),  # core.firmware.CampaignStatus
    Column("status_reason", String(500)),
    Column("forgiven_failures", Integer, nullable=False, server_default=text("0")),
    Column("created_by", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

firmware_campaign_stations = Table(
    "firmware_campaign_stations",
    metadata,
    Column("campaign_id", BigPk, ForeignKey("firmware_campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("station_id", String(64), nullable=False),
    Column("batch", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # core.firmware.TargetState
    Column("update_id", BigPk),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("detail", String(500)),
    PrimaryKeyConstraint("campaign_id", "station_id", name="pk_firmware_campaign_stations"),
)

# A site's feeders and transformers below its grid connection (core/energy/layout.py), nested by parent_id.
site_feeders = Table(
    "site_feeders",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("site_id", BigPk, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("parent_id", BigPk, ForeignKey("site_feeders.id", ondelete="CASCADE")),  # NULL: the grid connection
    Column("name", String(100), nullable=False),
    Column("max_a", Float),  # per phase
    Column("max_w", Float),
    Column("limit_curve", Text),  # JSON: [{start, end, max_a, max_w}], like the site's load curve periods
)

# KPI reports (core/reports): each report made, its figures as JSON and the keys of its files in the file store; and
# the scheduled runs, whose unique key makes each due report once (migration 0028).
kpi_reports = Table(
    "kpi_reports",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # weekly | monthly | custom
    Column("scope", String(120), nullable=False),  # fleet | site:<id> | group:<name>
    Column("period_start", UtcDateTime, nullable=False),
    Column("period_end", UtcDateTime, nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("trigger", String(16), nullable=False),  # schedule | on_demand
    Column("requested_by", String(100), nullable=False),
    Column("made_at", UtcDateTime, nullable=False, index=True),
    Column("title", String(255), nullable=False),
    Column("summary", JSON, nullable=False),
    Column("xlsx_key", String(255), nullable=False),
    Column("pdf_key", String(255), nullable=False),
    Column("xlsx_bytes", BigInteger, nullable=False),
    Column("pdf_bytes", BigInteger, nullable=False),
)

report_runs = Table(
    "report_runs",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("period_start", UtcDateTime, nullable=False),
    Column("scope", String(120), nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("report_id", BigPk),  # no foreign key: retention deletes reports, the run stays made
    Column("error", String(500)),
    UniqueConstraint("kind", "period_start", "scope", name="uq_report_runs_period"),
)

# OCPP proxy (core/upstream): a third-party CSMS per station or per site, and what it has not had yet.
upstream_csms = Table(
    "upstream_csms",
    metadata,
    Column("scope", String(8), primary_key=True),  # station | site
    Column("target", String(64), primary_key=True),  # station id or site id
    Column("url", String(500), nullable=False),
    Column("mode", String(20), nullable=False),  # observe | upstream_answers
    Column("upstream_station_id", String(64)),
    Column("security_profile", Integer, nullable=False),
    Column("password", String(500)),  # sealed (Fernet, "fernet:..."); never returned by the API
    Column("client_cert_file", String(500)),
    Column("client_key_file", String(500)),
    Column("ca_file", String(500)),  # wss: PEM bundle trusted for upstream's certificate
    Column("allowed_actions", JSON, nullable=False),
    Column("updated_at", UtcDateTime),
    Column("updated_by", String(255), nullable=False),
)

upstream_buffer = Table(
    "upstream_buffer",
    metadata,
    Column("id", BigPk, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("action", String(50), nullable=False),
    Column("frame", Text, nullable=False),
    Column("answer", Text, nullable=False),  # evscada's answer to the station, JSON
    Column("queued_at", UtcDateTime, nullable=False),
    Index("ix_upstream_buffer_station_id", "station_id", "id"),
    sqlite_autoincrement=True,  # ids never reused: the proxy skips what a replay sent by id (gateway/upstream)
)

# OCPP 1.6: evscada's transactionId -> upstream's, until upstream has the StopTransaction (a restart keeps it).
upstream_transactions = Table(
    "upstream_transactions",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("ours", Integer, primary_key=True),
    Column("theirs", Integer, nullable=False),
    Column("mapped_at", UtcDateTime, nullable=False),
)
