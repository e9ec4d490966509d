"""The meter-sample aggregator: keeps 1-minute and 15-minute buckets up to date, off the gateway's path.

Every few seconds it folds the readings above its watermark (a row in historian_watermarks) into buckets and moves
the watermark, all in one database transaction: a crash repeats nothing and loses nothing, and a late sample (a
station's old offline data) lands in its old bucket because buckets follow the sample's own timestamp. The fold is
one INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE inside the database (the rows never travel to Python;
about 4x the throughput of folding them here, docs/performance.md). Work is done in bounded batches of reading ids
(meter_readings; each unfolds into its sampled values through the meter_samples view) so the single SQLite writer
is never held for long.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Insert,
    Integer,
    Select,
    String,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.historian.samples import STORED_RESOLUTIONS
from evscada.storage import tables as t
from evscada.storage.db import Database
from evscada.storage.historian.samples import WATERMARK, finite

log = logging.getLogger(__name__)


class MeterAggregator:
    def __init__(
        self,
        database: Database,
        *,
        batch: int = 500,
        commit_settle_seconds: float = 30.0,
        max_share: float = 0.1,
        gateway_busy: Callable[[], bool] = lambda: True,
    ) -> None:
        self._database = database
        self._batch = batch
        self._settle = commit_settle_seconds
        self._max_share = max_share
        self._gateway_busy = gateway_busy  # stations' writes are waiting: leave the database to them
        # (monotonic time, highest id then): ids at or below one seen `settle` seconds ago belong to transactions
        # that have ended, so a gap there is a rollback, not a row still on its way (PostgreSQL only).
        self._seen_max: deque[tuple[float, int]] = deque()

    async def run(self, interval: float) -> None:
        """Catch up, then look again every `interval` seconds; owned and cancelled by Application."""
        while True:
            started = time.monotonic()
            try:
                done = await self.run_once()
            except Exception:  # a database hiccup: try again next round, the watermark keeps the place
                log.exception("meter aggregation failed; retrying in %.0f s", interval)
                done = 0
            if done < self._batch:
                await asyncio.sleep(interval)
                continue
            # Behind: catch up at full speed while no station's write waits; while some do, hold the database at
            # most `max_share` of the time. Under sustained MeterValues load the buckets lag, and answers stay
            # complete because queries merge the raw tail.
            if not self._gateway_busy():
                await asyncio.sleep(0)
                continue
            busy = time.monotonic() - started
            await asyncio.sleep(busy * (1 - self._max_share) / self._max_share)

    async def catch_up(self) -> int:
        """Aggregate until nothing is left that may be aggregated now; the number of readings."""
        total = 0
        while (done := await self.run_once()) > 0:
            total += done
        return total

    async def run_once(self) -> int:
        """One batch: the number of readings folded in."""
        async with self._database.transaction() as connection:
            watermark = await _lock_watermark(connection)
            taken, upper = await self._window(connection, watermark)
            if taken == 0:
                return 0
            await connection.execute(_fold_statement(connection.dialect.name), {"low": watermark, "high": upper})
            w = t.historian_watermarks.c
            await connection.execute(t.historian_watermarks.update().where(w.name == WATERMARK).values(last_id=upper))
        log.debug("aggregated %d meter readings (ids %d to %d)", taken, watermark + 1, upper)
        return taken

    async def _window(self, connection: AsyncConnection, watermark: int) -> tuple[int, int]:
        """How many readings the batch takes and the highest id among them: at most `batch` above the watermark,
        none above a gap that a transaction still in flight may fill (PostgreSQL)."""
        c = t.meter_readings.c
        above = select(c.id).where(c.id > watermark).order_by(c.id).limit(self._batch)
        safe = await self._safe_id(connection)
        if math.isinf(safe):  # SQLite: no gaps to wait for, so the database counts without sending the ids
            inner = above.subquery()
            count, upper = (await connection.execute(select(func.count(), func.max(inner.c.id)))).one()
            return int(count), int(upper or watermark)
        taken, expected = 0, watermark + 1
        for (row_id,) in await connection.execute(above):
            if row_id != expected and row_id - 1 > safe:
                break  # ids below this row may still be committed by a transaction in flight
            taken, expected = taken + 1, row_id + 1
        return taken, expected - 1

    async def _safe_id(self, connection: AsyncConnection) -> float:
        if connection.dialect.name == "sqlite":
            return math.inf  # one connection: nothing else is in flight while this runs
        now = time.monotonic()
        top = (await connection.execute(select(func.max(t.meter_readings.c.id)))).scalar() or 0
        self._seen_max.append((now, int(top)))
        safe = 0
        while self._seen_max and self._seen_max[0][0] <= now - self._settle:
            safe = max(safe, self._seen_max.popleft()[1])
        if safe:
            self._seen_max.appendleft((now - self._settle, safe))  # keep the newest settled observation
        return safe


async def _lock_watermark(connection: AsyncConnection) -> int:
    """The watermark, locked until commit so two processes never fold the same rows (FOR UPDATE on PostgreSQL;
    SQLite has one writer anyway)."""
    w = t.historian_watermarks.c
    query = select(w.last_id).where(w.name == WATERMARK).with_for_update()
    value = (await connection.execute(query)).scalar()
    if value is None:
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        await connection.execute(
            insert(t.historian_watermarks).values(name=WATERMARK, last_id=0).on_conflict_do_nothing()
        )
        value = (await connection.execute(query)).scalar_one()
    return int(value)


# Bucket lengths in whole minutes that divide an hour: what _bucket_start can floor on SQLite.
_MINUTES = {seconds: seconds // 60 for seconds in STORED_RESOLUTIONS if seconds % 60 == 0 and 3600 % seconds == 0}
if len(_MINUTES) != len(STORED_RESOLUTIONS):
    raise RuntimeError(f"the SQLite aggregation cannot floor to {STORED_RESOLUTIONS} (only lengths dividing an hour)")
_KEY = ("station_id", "resolution", "bucket_start", "evse_id", "connector_id", "measurand", "phase")


@functools.cache
def _fold_statement(dialect: str) -> Insert:
    """INSERT ... SELECT ... ON CONFLICT that folds the samples of readings (:low, :high] into both resolutions.

    Every sample is paired with each stored resolution and its bucket's start, grouped into one row per bucket,
    and merged into a bucket already stored exactly as Bucket.merge does. Only "the value of the first and last
    sample by (timestamp, id)" differs by backend (see _buckets_postgresql and _buckets_sqlite).
    """
    # The batch's readings are unfolded once (a JSON parse per value) into a materialized CTE and then paired with
    # each resolution; unfolding inside the join ran it once per resolution (1.3x the readings/s on SQLite, the
    # same on PostgreSQL; docs/performance.md).
    v = t.meter_samples.c
    unfolded = (
        select(v.id, v.station_id, v.evse_id, v.connector_id, v.timestamp, v.measurand, v.phase, v.unit, v.value)
        .where(v.reading_id > bindparam("low"), v.reading_id <= bindparam("high"), finite(v.value))
        .cte("unfolded")
        .prefix_with("MATERIALIZED")
    )
    s = unfolded.c
    resolutions = union_all(
        *(
            select(
                literal_column(str(seconds), Integer).label("seconds"),
                literal_column(str(minutes), Integer).label("minutes"),
            )
            for seconds, minutes in _MINUTES.items()
        )
    ).subquery("resolutions")
    # The grouping key, computed once per sample and resolution. Straight over the join rather than from a
    # subquery: SQLite cannot flatten a subquery that joins a UNION ALL, and materializing that cost a third.
    key = {
        "station_id": s.station_id,
        "resolution": resolutions.c.seconds,
        "bucket_start": _bucket_start(dialect, s.timestamp, resolutions.c.seconds, resolutions.c.minutes),
        "evse_id": s.evse_id,
        "connector_id": s.connector_id,
        "measurand": s.measurand,
        "phase": func.coalesce(s.phase, _inline("")),
    }
    samples = (
        select(*(expression.label(name) for name, expression in key.items()))
        .select_from(unfolded.join(resolutions, true()))
        .group_by(*key.values())
    )
    buckets = _buckets_postgresql(samples, s) if dialect == "postgresql" else _buckets_sqlite(samples, s)
    table = t.meter_aggregates
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).from_select(
        [*_KEY, "unit", "count", "sum", "min", "max", "first_at", "first_value", "last_at", "last_value"], buckets
    )
    new, old = insert.excluded, table.c
    return insert.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={
            "count": old["count"] + new["count"],
            "sum": old["sum"] + new["sum"],
            "min": case((new["min"] < old["min"], new["min"]), else_=old["min"]),
            "max": case((new["max"] > old["max"], new["max"]), else_=old["max"]),
            "first_at": case((new.first_at < old.first_at, new.first_at), else_=old.first_at),
            "first_value": case((new.first_at < old.first_at, new.first_value), else_=old.first_value),
            "last_at": case((new.last_at >= old.last_at, new.last_at), else_=old.last_at),
            "last_value": case((new.last_at >= old.last_at, new.last_value), else_=old.last_value),
            "unit": func.coalesce(new.unit, old.unit),
        },
    )


def _bucket_start(dialect: str, at: Any, seconds: Any, minutes: Any) -> Any:
    """The start of the bucket of `seconds` (`minutes` long) that holds `at`, as the backend stores a UtcDateTime."""
    if dialect == "postgresql":
        # date_part gives a double (extract gives numeric, which made the whole statement a sixth slower); a
        # plain "/" keeps it one (SQLAlchemy casts an integer divisor to numeric for its true division).
        return func.to_timestamp(
            func.floor(func.date_part(_inline("epoch"), at, type_=Float).op("/")(seconds)) * seconds
        )
    # SQLite keeps UtcDateTime as text, 'YYYY-MM-DD HH:MM:SS.ffffff' (what SQLAlchemy writes and parses back):
    # the bucket key must be that exact text, or the upsert would not find the bucket it wrote before. Cutting
    # the text at the hour and flooring its minutes is about twice as fast as strftime through epoch seconds,
    # and right for every bucket length that divides an hour (checked by _MINUTES).
    # Constants are inlined so that the GROUP BY term is the very expression of the select list: SQLite then
    # computes it once per row (with bound parameters the two would differ).
    hour = func.substr(at, _inline(1), _inline(14))  # 'YYYY-MM-DD HH:'
    minute = cast(func.substr(at, _inline(15), _inline(2)), Integer) // minutes * minutes
    two_digits = func.substr(_inline("0").op("||")(minute.self_group()), _inline(-2))
    return hour.op("||")(two_digits).op("||")(_inline(":00.000000"))


def _inline(value: int | str) -> Any:
    return literal_column(repr(value))


def _tagged_id(row_id: Any) -> Any:
    """The id as text of a fixed 19 digits (10^18 added), so that texts ending in it sort by it."""
    return cast(literal_column("1000000000000000000", BigInteger) + row_id, String)


def _newest_unit(row_id: Any, unit: Any) -> Any:
    """The unit of the newest sample (highest id) that has one, as the Python fold kept it: the greatest of
    tagged id followed by the unit, with the id cut off again. NULL if no sample had a unit."""
    return func.substr(func.max(case((unit.is_not(None), _tagged_id(row_id).op("||")(unit)))), 20)


def _buckets_postgresql(samples: Select[Any], c: Any) -> Select[Any]:
    # PostgreSQL sorts inside the aggregate: the first element of the values ordered by (timestamp, id).
    return samples.add_columns(
        _newest_unit(c.id, c.unit),
        func.count(),
        func.sum(c.value),
        func.min(c.value),
        func.max(c.value),
        func.min(c.timestamp),
        func.array_agg(aggregate_order_by(c.value, c.timestamp, c.id))[1],
        func.max(c.timestamp),
        func.array_agg(aggregate_order_by(c.value, c.timestamp.desc(), c.id.desc()))[1],
    )


def _buckets_sqlite(samples: Select[Any], c: Any) -> Select[Any]:
    # SQLite (3.40) has no ordered aggregate, and its "bare column next to min()" rule cannot serve first, last,
    # min and max in one query; window functions work but cost two more sorts. So the group keeps the smallest
    # and greatest "timestamp text + tagged id" (the text sorts in time order), and the first and last sample
    # are then read by the id in its last 18 digits: their reading through the primary key, the value by its
    # position in the reading.
    in_order = c.timestamp.op("||")(_tagged_id(c.id))
    grouped = samples.add_columns(
        _newest_unit(c.id, c.unit).label("unit"),
        func.count().label("count"),
        func.sum(c.value).label("sum"),
        func.min(c.value).label("min"),
        func.max(c.value).label("max"),
        func.min(in_order).label("first_key"),
        func.max(in_order).label("last_key"),
    ).subquery("grouped")
    g = grouped.c
    first, last = t.meter_readings.alias("first_reading"), t.meter_readings.alias("last_reading")
    first_id, last_id = (cast(func.substr(key, -18), Integer) for key in (g.first_key, g.last_key))
    return (
        select(
            *(g[name] for name in _KEY),
            g.unit,
            g["count"],
            g["sum"],
            g["min"],
            g["max"],
            first.c.timestamp,
            _value_at(first.c.samples, first_id),
            last.c.timestamp,
            _value_at(last.c.samples, last_id),
        )
        .join_from(grouped, first, first.c.id == first_id.op("/")(t.SAMPLE_ID_SPAN))
        .join(last, last.c.id == last_id.op("/")(t.SAMPLE_ID_SPAN))
        .where(true())  # SQLite reads "ON CONFLICT" right after a join's ON as part of it: a WHERE ends the join
    )


def _value_at(packed: Any, sample_id: Any) -> Any:
    """SQLite: the value of the sample `sample_id` out of its reading's packed values (position = id mod span)."""
    position = cast(sample_id.op("%")(t.SAMPLE_ID_SPAN), String)
    path = _inline("$[").op("||")(position).op("||")(_inline("][5]"))
    return func.json_extract(packed, path, type_=Float)
