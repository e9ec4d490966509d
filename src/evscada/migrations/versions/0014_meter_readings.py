"""Meter values stored one row per reading, unfolded by a view named meter_samples.

A MeterValues message used to take a meter_samples row per sampled value, and each row an entry in both indexes:
most of what a group commit cost SQLite (docs/performance.md, "SQLite's share"). A meter_readings row now holds
one message's values of one time as a JSON array, and the view meter_samples unfolds them into the rows readers
know, with the same columns plus reading_id.

Existing samples move one per reading, keeping their id as the reading's id, so the aggregator's watermark (now
named meter_readings) stays where it was. The move runs in steps of 100,000 rows and logs its progress. A value
that is no number (an infinity; NaN on PostgreSQL) moves as new readings store it: no value, its text in raw
(SQLite would otherwise write "Inf" into the JSON, which no JSON function reads back).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 02:40:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("evscada.migrations")

_STEP = 100_000
_SPAN = 1024  # storage.tables.SAMPLE_ID_SPAN at this revision
_FIELDS = ("measurand", "phase", "location", "context", "unit", "value", "raw")
_PLACE = "station_id, evse_id, connector_id, transaction_pk, timestamp"
_READING_PLACE = ", ".join(f"r.{column.strip()}" for column in _PLACE.split(","))
_LARGEST = "1.7976931348623157e308"  # the largest finite float
# The value and raw text of a sample as new readings hold them (storage/charging/readings.py): no value that is no
# number.
_NUMBER = f"CASE WHEN value BETWEEN -{_LARGEST} AND {_LARGEST} THEN value END"
_RAW = {
    "sqlite": f"CASE WHEN value > {_LARGEST} THEN coalesce(raw, 'inf') "
    f"WHEN value < -{_LARGEST} THEN coalesce(raw, '-inf') ELSE raw END",
    "postgresql": "CASE WHEN value = 'NaN' THEN coalesce(raw, 'nan') WHEN value = 'Infinity' THEN coalesce(raw, 'inf') "
    "WHEN value = '-Infinity' THEN coalesce(raw, '-inf') ELSE raw END",
}

_VIEW = {
    "sqlite": f"""
CREATE VIEW meter_samples AS
SELECT r.id * {_SPAN} + s.key AS id, r.id AS reading_id, {_READING_PLACE},
       {", ".join(f"json_extract(s.value, '$[{i}]') AS {name}" for i, name in enumerate(_FIELDS))}
FROM meter_readings AS r, json_each(r.samples) AS s
""",
    "postgresql": f"""
CREATE VIEW meter_samples AS
SELECT r.id * {_SPAN} + s.position - 1 AS id, r.id AS reading_id, {_READING_PLACE},
       {", ".join(f"s.sample ->> {i} AS {name}" for i, name in enumerate(_FIELDS) if name != "value")},
       (s.sample ->> 5)::double precision AS value
FROM meter_readings AS r
CROSS JOIN LATERAL jsonb_array_elements(r.samples) WITH ORDINALITY AS s(sample, position)
""",
}


def _bigpk() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _place_columns() -> list[sa.Column]:
    """Where and when, as both meter_readings and the former meter_samples hold it."""
    return [
        sa.Column("id", _bigpk(), autoincrement=True, nullable=False),
        sa.Column("station_id", sa.String(length=64), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_pk", _bigpk(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
    ]


def _in_steps(bind: sa.Connection, source: str, statement: str, what: str) -> None:
    low, high = bind.execute(sa.text(f"SELECT min(id), max(id) FROM {source}")).one()
    if low is None:
        return
    for start in range(low, high + 1, _STEP):
        bind.execute(sa.text(statement), {"low": start, "high": start + _STEP})
        log.info("%s: ids up to %d of %d", what, min(start + _STEP - 1, high), high)


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.create_table(
        "meter_readings",
        *_place_columns(),
        sa.Column("samples", sa.Text().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_readings")),
    )
    pack = "json_array(json_array({}))" if dialect == "sqlite" else "jsonb_build_array(jsonb_build_array({}))"
    fields = [{"value": _NUMBER, "raw": _RAW[dialect]}.get(name, name) for name in _FIELDS]
    _in_steps(
        bind,
        "meter_samples",
        f"INSERT INTO meter_readings (id, {_PLACE}, samples) "
        f"SELECT id, {_PLACE}, {pack.format(', '.join(fields))} FROM meter_samples "
        "WHERE id >= :low AND id < :high",
        "moving meter samples to meter_readings",
    )
    if dialect == "postgresql":
        bind.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('meter_readings', 'id'), coalesce(max(id), 0) + 1, false) "
                "FROM meter_readings"
            )
        )
    with op.batch_alter_table("meter_readings") as batch_op:
        batch_op.create_index("ix_meter_readings_station_time", ["station_id", "timestamp"], unique=False)
        batch_op.create_index("ix_meter_readings_transaction", ["transaction_pk"], unique=False)
    op.drop_table("meter_samples")
    op.execute(_VIEW[dialect])
    op.execute("UPDATE historian_watermarks SET name = 'meter_readings' WHERE name = 'meter_samples'")


def downgrade() -> None:
    bind = op.get_bind()
    op.execute("DROP VIEW meter_samples")
    op.execute(_VIEW[bind.dialect.name].replace("VIEW meter_samples", "VIEW meter_samples_unfolded"))
    op.create_table(
        "meter_samples",
        *_place_columns(),
        sa.Column("measurand", sa.String(length=48), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=True),
        sa.Column("location", sa.String(length=8), nullable=True),
        sa.Column("context", sa.String(length=24), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_samples")),
    )
    columns = f"id, {_PLACE}, {', '.join(_FIELDS)}"
    _in_steps(
        bind,
        "meter_readings",
        f"INSERT INTO meter_samples ({columns}) SELECT {columns} FROM meter_samples_unfolded "
        "WHERE reading_id >= :low AND reading_id < :high",
        "moving meter_readings back to meter samples",
    )
    if bind.dialect.name == "postgresql":
        bind.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('meter_samples', 'id'), coalesce(max(id), 0) + 1, false) "
                "FROM meter_samples"
            )
        )
    op.execute("DROP VIEW meter_samples_unfolded")
    # The watermark named the last reading folded: its last possible sample id keeps it there.
    op.execute(
        f"UPDATE historian_watermarks SET name = 'meter_samples', last_id = (last_id + 1) * {_SPAN} - 1 "
        "WHERE name = 'meter_readings' AND last_id > 0"
    )
    op.execute("UPDATE historian_watermarks SET name = 'meter_samples' WHERE name = 'meter_readings'")
    with op.batch_alter_table("meter_samples") as batch_op:
        batch_op.create_index("ix_meter_samples_station_time", ["station_id", "timestamp"], unique=False)
        batch_op.create_index("ix_meter_samples_transaction", ["transaction_pk"], unique=False)
    op.drop_table("meter_readings")
