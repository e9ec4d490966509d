"""The meter-sample aggregator: keeps 1-minute and 15-minute buckets up to date, off the gateway's path.

Every few seconds it reads the raw rows above its watermark (a row in historian_watermarks), folds them into
buckets, upserts those and moves the watermark, all in one database transaction: a crash repeats nothing and loses
nothing, and a late sample (a station's old offline data) lands in its old bucket because buckets follow the
sample's own timestamp. Work is done in bounded batches so the single SQLite writer is never held for long.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.historian import STORED_RESOLUTIONS, Bucket, floor_time
from evscada.storage import tables as t
from evscada.storage.db import Database
from evscada.storage.historian import WATERMARK

log = logging.getLogger(__name__)

_BucketKey = tuple[
    str, int, datetime, int, int, str, str
]  # station, resolution, start, evse, connector, measurand, phase


class MeterAggregator:
    def __init__(self, database: Database, *, batch: int = 5000, commit_settle_seconds: float = 30.0) -> None:
        self._database = database
        self._batch = batch
        self._settle = commit_settle_seconds
        # (monotonic time, highest id then): ids at or below one seen `settle` seconds ago belong to transactions
        # that have ended, so a gap there is a rollback, not a row still on its way (PostgreSQL only).
        self._seen_max: deque[tuple[float, int]] = deque()

    async def run(self, interval: float) -> None:
        """Catch up, then look again every `interval` seconds; owned and cancelled by Application."""
        while True:
            try:
                done = await self.run_once()
            except Exception:  # a database hiccup: try again next round, the watermark keeps the place
                log.exception("meter aggregation failed; retrying in %.0f s", interval)
                done = 0
            await asyncio.sleep(0 if done >= self._batch else interval)

    async def catch_up(self) -> int:
        """Aggregate until nothing is left that may be aggregated now; the number of rows."""
        total = 0
        while (done := await self.run_once()) > 0:
            total += done
        return total

    async def run_once(self) -> int:
        """One batch: the number of raw rows folded in."""
        async with self._database.transaction() as connection:
            watermark = await _lock_watermark(connection)
            safe = await self._safe_id(connection)
            c = t.meter_samples.c
            rows = (
                await connection.execute(
                    select(
                        c.id,
                        c.station_id,
                        c.evse_id,
                        c.connector_id,
                        c.timestamp,
                        c.measurand,
                        c.phase,
                        c.unit,
                        c.value,
                    )
                    .where(c.id > watermark)
                    .order_by(c.id)
                    .limit(self._batch)
                )
            ).all()
            taken, expected = 0, watermark + 1
            for row in rows:
                if row.id != expected and row.id - 1 > safe:
                    break  # ids below this row may still be committed by a transaction in flight
                taken, expected = taken + 1, row.id + 1
            if taken == 0:
                return 0
            buckets = _fold(rows[:taken])
            if buckets:
                await _upsert(connection, buckets)
            w = t.historian_watermarks.c
            await connection.execute(
                t.historian_watermarks.update().where(w.name == WATERMARK).values(last_id=rows[taken - 1].id)
            )
        log.debug("aggregated %d meter samples into %d buckets", taken, len(buckets))
        return taken

    async def _safe_id(self, connection: AsyncConnection) -> float:
        if connection.dialect.name == "sqlite":
            return math.inf  # one connection: nothing else is in flight while this runs
        now = time.monotonic()
        top = (await connection.execute(select(func.max(t.meter_samples.c.id)))).scalar() or 0
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


def _fold(rows: Any) -> dict[_BucketKey, tuple[str | None, Bucket]]:
    buckets: dict[_BucketKey, tuple[str | None, Bucket]] = {}
    for row in rows:
        value = row.value
        if value is None or not math.isfinite(value):
            continue
        at: datetime = row.timestamp
        for seconds in STORED_RESOLUTIONS:
            start = floor_time(at, seconds)
            key = (row.station_id, seconds, start, row.evse_id, row.connector_id, row.measurand, row.phase or "")
            found = buckets.get(key)
            one = Bucket(start, 1, value, value, value, at, value, at, value)
            if found is None:
                buckets[key] = (row.unit, one)
            else:
                found[1].merge(one)
                if row.unit is not None:
                    buckets[key] = (row.unit, found[1])
    return buckets


async def _upsert(connection: AsyncConnection, buckets: dict[_BucketKey, tuple[str | None, Bucket]]) -> None:
    table = t.meter_aggregates
    insert = pg_insert(table) if connection.dialect.name == "postgresql" else sqlite_insert(table)
    new = insert.excluded
    old = table.c
    statement = insert.on_conflict_do_update(
        index_elements=["station_id", "resolution", "bucket_start", "evse_id", "connector_id", "measurand", "phase"],
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
    await connection.execute(
        statement,
        [
            {
                "station_id": station_id,
                "resolution": resolution,
                "bucket_start": start,
                "evse_id": evse_id,
                "connector_id": connector_id,
                "measurand": measurand,
                "phase": phase,
                "unit": unit,
                "count": b.count,
                "sum": b.sum,
                "min": b.min,
                "max": b.max,
                "first_at": b.first_at,
                "first_value": b.first_value,
                "last_at": b.last_at,
                "last_value": b.last_value,
            }
            for (station_id, resolution, start, evse_id, connector_id, measurand, phase), (unit, b) in buckets.items()
        ],
    )
