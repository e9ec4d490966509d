"""Group commit for meter values: the samples of many stations go to the database in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.charging.repositories import MeterWrite
from evscada.core.model import EvseRef, MeterSample, StationId, TransactionPk
from evscada.storage import tables as t
from evscada.storage.charging.readings import readings
from evscada.storage.db import Database
from evscada.storage.group_commit import GroupWriter

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # messages per commit; bounds one transaction's size and a statement's parameters
MAX_CONCURRENT_COMMITS = 4  # on PostgreSQL; at most half the pool, so the rest of the CSMS still gets connections


@dataclass(slots=True)
class PendingSamples:
    """One MeterValues message waiting for the group commit."""

    station_id: StationId
    evse: EvseRef
    station_transaction_id: str | None
    samples: Sequence[MeterSample]
    message_key: str | None
    at: datetime


class MeterSampleWriter(GroupWriter[PendingSamples, MeterWrite]):
    what = "meter value messages"

    def __init__(self, database: Database) -> None:
        # Batches only insert, and receipts are claimed in key order, so concurrent commits cannot deadlock.
        concurrency = min(MAX_CONCURRENT_COMMITS, database.concurrent_transactions // 2)
        super().__init__(database, max_batch=MAX_BATCH, concurrency=concurrency)

    async def append(
        self,
        *,
        station_id: StationId,
        evse: EvseRef,
        station_transaction_id: str | None,
        samples: Sequence[MeterSample],
        message_key: str | None,
        at: datetime,
    ) -> MeterWrite:
        return await self.submit(PendingSamples(station_id, evse, station_transaction_id, samples, message_key, at))

    def session(self) -> AbstractAsyncContextManager[AsyncConnection]:
        # On PostgreSQL a batch is one statement (_write_in_one_statement): no BEGIN and COMMIT trips around it.
        return self._database.statement()

    async def write(self, connection: AsyncConnection, items: Sequence[PendingSamples]) -> list[MeterWrite]:
        if connection.dialect.name == "postgresql":
            return await _write_in_one_statement(connection, list(items))
        return await _write(connection, list(items))


_READING_COLUMNS = ("station_id", "evse_id", "connector_id", "transaction_pk", "timestamp", "samples")
_RECEIPT_COLUMNS = ("station_id", "message_key", "received_at")


def _placeholders(dialect: Dialect, rows: int, columns: int) -> str:
    """VALUES groups in the driver's own parameter style (qmark for SQLite, $n for asyncpg)."""
    if dialect.paramstyle == "qmark":
        group = "(" + ",".join("?" * columns) + ")"
        return ",".join([group] * rows)
    numbers = iter(range(1, rows * columns + 1))
    return ",".join("(" + ",".join(f"${next(numbers)}" for _ in range(columns)) + ")" for _ in range(rows))


def _db_time(dialect: Dialect) -> Callable[[datetime], object]:
    """What the driver takes for a UTC time: the text SQLAlchemy itself stores for SQLite, the datetime for PG."""
    if dialect.name == "sqlite":
        return lambda value: value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return lambda value: value


async def _write(connection: AsyncConnection, batch: list[PendingSamples]) -> list[MeterWrite]:
    # The hot inserts go to the driver as plain SQL and tuples: compiling a statement per batch and running
    # SQLAlchemy's bind processors per row cost more than SQLite's own work here (see docs/performance.md).
    dialect = connection.dialect
    to_db = _db_time(dialect)
    fresh = await _claim_receipts(connection, batch, to_db)
    transactions = await _transaction_pks(connection, batch)
    rows: list[tuple[object, ...]] = []
    results = []
    for index, item in enumerate(batch):
        pk = transactions.get((item.station_id, item.station_transaction_id)) if item.station_transaction_id else None
        results.append(MeterWrite(stored=index in fresh, transaction_pk=pk))
        if index not in fresh:
            continue
        for at, values in readings(item.samples):
            rows.append((item.station_id, item.evse.evse_id, item.evse.connector_id, pk, to_db(at), values))
    await _insert_readings(connection, rows)
    return results


# PostgreSQL: the whole batch in one statement of fixed text, its rows as one array per column. The text never
# changes, so asyncpg prepares it once per connection (a VALUES list is a new statement for every batch size, parsed
# and planned anew), and one statement is one round trip that commits by itself (Database.statement). Receipts are
# claimed in their primary key's order (see _claim_receipts); only the readings of messages whose receipt this
# statement claimed (or that have no key) are inserted, with their transaction's pk.
_PG_BATCH = """
WITH message AS (
    SELECT * FROM unnest($1::int[], $2::varchar[], $3::varchar[], $4::timestamptz[], $5::varchar[])
        AS m(i, station_id, message_key, received_at, station_transaction_id)
), claimed AS (
    INSERT INTO message_receipts (station_id, message_key, received_at)
    SELECT station_id, message_key, received_at FROM message WHERE message_key IS NOT NULL
    ORDER BY message_key, station_id
    ON CONFLICT DO NOTHING
    RETURNING station_id, message_key
), looked_up AS (
    SELECT m.i, m.station_id, m.message_key IS NULL OR c.message_key IS NOT NULL AS fresh, tx.pk
    FROM message m
    LEFT JOIN claimed c ON c.station_id = m.station_id AND c.message_key = m.message_key
    LEFT JOIN transactions tx
        ON tx.station_id = m.station_id AND tx.station_transaction_id = m.station_transaction_id
), stored AS (
    INSERT INTO meter_readings (station_id, evse_id, connector_id, transaction_pk, timestamp, samples)
    SELECT f.station_id, r.evse_id, r.connector_id, f.pk, r.at, r.samples::jsonb
    FROM unnest($6::int[], $7::int[], $8::int[], $9::timestamptz[], $10::text[]) WITH ORDINALITY
        AS r(i, evse_id, connector_id, at, samples, n)
    JOIN looked_up f ON f.i = r.i AND f.fresh
    ORDER BY r.n
)
SELECT i, fresh, pk FROM looked_up
"""

_PG_READINGS = (
    "INSERT INTO meter_readings (station_id, evse_id, connector_id, transaction_pk, timestamp, samples) "
    "SELECT s, e, c, t, at, v::jsonb FROM unnest($1::varchar[], $2::int[], $3::int[], $4::bigint[], "
    "$5::timestamptz[], $6::text[]) WITH ORDINALITY AS r(s, e, c, t, at, v, n) ORDER BY n"
)


async def _write_in_one_statement(connection: AsyncConnection, batch: list[PendingSamples]) -> list[MeterWrite]:
    """PostgreSQL: claim the receipts, look up the transactions and insert the readings in one statement."""
    messages: tuple[list[object], ...] = ([], [], [], [], [])
    rows: tuple[list[object], ...] = ([], [], [], [], [])
    first_of: dict[tuple[str, str], int] = {}
    repeat_of: dict[int, int] = {}  # a repeat inside the batch: the same frame, so the same outcome, never stored
    for index, item in enumerate(batch):
        if item.message_key is not None:
            first = first_of.setdefault((item.station_id, item.message_key), index)
            if first != index:
                repeat_of[index] = first
                continue
        for column, value in zip(
            messages, (index, item.station_id, item.message_key, item.at, item.station_transaction_id), strict=True
        ):
            column.append(value)
        for at, values in readings(item.samples):
            for column, value in zip(rows, (index, item.evse.evse_id, item.evse.connector_id, at, values), strict=True):
                column.append(value)
    outcome = await connection.exec_driver_sql(_PG_BATCH, (*messages, *rows))
    found = {row[0]: (bool(row[1]), row[2]) for row in outcome}
    results = []
    for index in range(len(batch)):
        fresh, pk = found[repeat_of.get(index, index)]
        stored = fresh and index not in repeat_of
        results.append(MeterWrite(stored=stored, transaction_pk=TransactionPk(pk) if pk is not None else None))
    return results


async def insert_readings(
    connection: AsyncConnection,
    *,
    station_id: StationId,
    evse: EvseRef,
    transaction_pk: TransactionPk | None,
    samples: Sequence[MeterSample],
) -> None:
    """One transaction message's samples, outside the group commit."""
    to_db = _db_time(connection.dialect)
    place = (station_id, evse.evse_id, evse.connector_id, transaction_pk)
    await _insert_readings(connection, [(*place, to_db(at), values) for at, values in readings(samples)])


async def _insert_readings(connection: AsyncConnection, rows: list[tuple[object, ...]]) -> None:
    # Plain SQL and tuples: the hot path's choice, and the packed text goes to a JSONB column on PostgreSQL
    # as it is (SQLAlchemy's JSONB type would encode the text again).
    if rows and connection.dialect.name == "postgresql":
        await connection.exec_driver_sql(_PG_READINGS, tuple(map(list, zip(*rows, strict=True))))
    elif rows:
        placeholders = _placeholders(connection.dialect, 1, len(_READING_COLUMNS))
        await connection.exec_driver_sql(
            f"INSERT INTO meter_readings ({', '.join(_READING_COLUMNS)}) VALUES {placeholders}", rows
        )


async def _claim_receipts(
    connection: AsyncConnection, batch: list[PendingSamples], to_db: Callable[[datetime], object]
) -> set[int]:
    """Indexes of the messages not seen before; a repeat (same station and frame digest) is not stored again."""
    first_of: dict[tuple[str, str], int] = {}
    fresh = set()
    for index, item in enumerate(batch):
        if item.message_key is None:
            fresh.add(index)
        else:
            first_of.setdefault((item.station_id, item.message_key), index)  # a repeat inside the batch too
    if not first_of:
        return fresh
    # In the primary key's order (key, station): two commits claiming the same receipts (a message repeated while
    # its first copy is being stored) then wait for each other in one order instead of deadlocking on PostgreSQL.
    claims = sorted(first_of.items(), key=lambda claim: (claim[0][1], claim[0][0]))
    values = [value for (sid, key), i in claims for value in (sid, key, to_db(batch[i].at))]
    placeholders = _placeholders(connection.dialect, len(first_of), len(_RECEIPT_COLUMNS))
    claimed = await connection.exec_driver_sql(
        f"INSERT INTO message_receipts ({', '.join(_RECEIPT_COLUMNS)}) VALUES {placeholders} "
        "ON CONFLICT DO NOTHING RETURNING station_id, message_key",
        tuple(values),
    )
    new = {(row[0], row[1]) for row in claimed}
    fresh.update(index for pair, index in first_of.items() if pair in new)
    return fresh


async def _transaction_pks(
    connection: AsyncConnection, batch: list[PendingSamples]
) -> dict[tuple[str, str], TransactionPk]:
    wanted = {(item.station_id, item.station_transaction_id) for item in batch if item.station_transaction_id}
    if not wanted:
        return {}
    c = t.transactions.c
    rows = await connection.execute(
        select(c.pk, c.station_id, c.station_transaction_id).where(
            tuple_(c.station_id, c.station_transaction_id).in_(list(wanted))
        )
    )
    return {(row.station_id, row.station_transaction_id): TransactionPk(row.pk) for row in rows}
