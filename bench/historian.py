"""Historian benchmark: a month of meter samples for N stations; a month's series read raw vs from the buckets.

    .venv/bin/python bench/historian.py [--stations 5] [--interval 60] [--database-url URL]
    .venv/bin/python bench/historian.py --aggregate [--stations 100] [--rows 200000] [--batch N] [--database-url URL]

Rows go straight into meter_readings (a set-up shortcut, not the gateway's path), the aggregator folds them in
(timed), then one station's month of one measurand is read raw (every sample) and with resolution auto (the
buckets), through the same core service the API uses. It prints both times and their ratio.

--aggregate times the aggregator alone: the rows of N stations interleaved in time as the gateway writes them
(some samples without a value or not finite, without a unit, with a phase, late, or sharing a timestamp), folded
by the former Python fold (LegacyAggregator below, kept as the baseline) and then, from scratch, by
MeterAggregator. It prints readings/s of both (a reading: one station's values of one instant), their ratio,
the longest single batch (how long one batch holds the SQLite writer), and checks that both produced the same
buckets. It empties the meter tables of the database it is
given: point --database-url only at a scratch database.

Every count it prints is checked against the database (samples written against the samples stored, readings
folded against the readings stored, points read against the points written); a mismatch ends the run with exit
status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.app import build_core
from evscada.bus.local import LocalBus
from evscada.core.historian.samples import STORED_RESOLUTIONS, Bucket, Resolution, SampleScope, floor_time
from evscada.core.model import EvseRef, MeterSample, RegistrationStatus, SecurityProfile, StationId
from evscada.settings import Settings
from evscada.storage import tables as t
from evscada.storage.charging.sample_writer import insert_readings
from evscada.storage.db import Database
from evscada.storage.historian.aggregator import MeterAggregator, _lock_watermark
from evscada.storage.historian.samples import WATERMARK
from evscada.storage.historian.settings import HistorianSettings
from evscada.storage.store import SqlStore

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
MEASURANDS = (("Power.Active.Import", "W"), ("Energy.Active.Import.Register", "Wh"))


async def fill(database: Database, stations: int, interval: int) -> int:
    rows = 0
    steps = DAYS * 86400 // interval
    for n in range(stations):
        sid = StationId(f"BENCH-{n:04d}")
        batch: list[MeterSample] = []
        for i in range(steps):
            at = START + timedelta(seconds=i * interval)
            power = 11000 + 11000 * math.sin(i / 97 + n)
            for measurand, unit in MEASURANDS:
                batch.append(MeterSample(at, power if unit == "W" else i * 3.0, measurand, unit=unit))
            if len(batch) >= 20_000 or i == steps - 1:
                async with database.transaction() as c:
                    await insert_readings(c, station_id=sid, evse=EvseRef(1, 1), transaction_pk=None, samples=batch)
                rows += len(batch)
                batch = []
    return rows


class LegacyAggregator(MeterAggregator):
    """The aggregator as it was before it folded in SQL: rows read into Python, folded, upserted with executemany.
    Kept here only as the baseline the --aggregate mode measures against."""

    async def run_once(self) -> int:
        async with self._database.transaction() as connection:
            watermark = await _lock_watermark(connection)
            taken, upper = await self._window(connection, watermark)
            if taken == 0:
                return 0
            c = t.meter_samples.c
            query = select(
                c.id, c.station_id, c.evse_id, c.connector_id, c.timestamp, c.measurand, c.phase, c.unit, c.value
            )
            rows = (await connection.execute(query.where(c.reading_id > watermark, c.reading_id <= upper))).all()
            buckets = _legacy_fold(sorted(rows, key=lambda row: row.id))
            if buckets:
                await _legacy_upsert(connection, buckets)
            w = t.historian_watermarks.c
            await connection.execute(t.historian_watermarks.update().where(w.name == WATERMARK).values(last_id=upper))
        return taken


def _legacy_fold(rows: Any) -> dict[tuple[Any, ...], tuple[str | None, Bucket]]:
    buckets: dict[tuple[Any, ...], tuple[str | None, Bucket]] = {}
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


async def _legacy_upsert(
    connection: AsyncConnection, buckets: dict[tuple[Any, ...], tuple[str | None, Bucket]]
) -> None:
    table = t.meter_aggregates
    insert = pg_insert(table) if connection.dialect.name == "postgresql" else sqlite_insert(table)
    new, old = insert.excluded, table.c
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
    names = ("station_id", "resolution", "bucket_start", "evse_id", "connector_id", "measurand", "phase")
    await connection.execute(
        statement,
        [
            {
                **dict(zip(names, key, strict=True)),
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
            for key, (unit, b) in buckets.items()
        ],
    )


async def fill_interleaved(database: Database, stations: int, rows: int) -> int:
    """`rows` samples of `stations` stations in arrival order: every station's readings of one instant together,
    10 s apart; a few without a value (or NaN, infinite), without a unit, with a phase, late (an old offline
    reading) or repeated."""
    rng = random.Random(1)
    batch: list[tuple[StationId, EvseRef, MeterSample]] = []
    written, step = 0, 0
    while written + len(batch) < rows:
        at = START + timedelta(seconds=10 * step)
        for n in range(stations):
            power = 11000 + 11000 * math.sin(step / 97 + n)
            for measurand, unit in MEASURANDS:
                roll = rng.random()
                value = (
                    None
                    if 0.02 <= roll < 0.025
                    else math.inf
                    if 0.025 <= roll < 0.026
                    else math.nan
                    if 0.026 <= roll < 0.027
                    else (power if unit == "W" else step * 3.0 + roll)
                )
                sample = MeterSample(
                    at - timedelta(minutes=rng.randrange(1, 60)) if roll < 0.01 else at,
                    value,
                    measurand,
                    unit=None if 0.01 <= roll < 0.02 else unit,
                    phase="L1" if roll > 0.9 else None,
                )
                batch.append((StationId(f"BENCH-{n:04d}"), EvseRef(1, 1 + n % 2), sample))
        step += 1 if rng.random() > 0.05 else 0  # now and then an instant is sent twice
        if len(batch) >= 20_000:
            await _write_interleaved(database, batch)
            written, batch = written + len(batch), []
    batch = batch[: rows - written]
    await _write_interleaved(database, batch)
    return written + len(batch)


async def _write_interleaved(database: Database, samples: list[tuple[StationId, EvseRef, MeterSample]]) -> None:
    """One reading per station's values of one instant, in arrival order, as the gateway stores a MeterValues."""
    async with database.transaction() as c:
        for (station_id, evse), group in itertools.groupby(samples, key=lambda item: item[:2]):
            values = [sample for _, _, sample in group]
            await insert_readings(c, station_id=station_id, evse=evse, transaction_pk=None, samples=values)


async def buckets(database: Database) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    a = t.meter_aggregates.c
    keys = (a.station_id, a.resolution, a.bucket_start, a.evse_id, a.connector_id, a.measurand, a.phase)
    values = (a.unit, a["count"], a["sum"], a["min"], a["max"], a.first_at, a.first_value, a.last_at, a.last_value)
    async with database.transaction() as c:
        found = await c.execute(select(*keys, *values))
    return {tuple(r[:7]): tuple(r[7:]) for r in found}


def differences(old: dict[tuple[Any, ...], tuple[Any, ...]], new: dict[tuple[Any, ...], tuple[Any, ...]]) -> int:
    """Buckets that differ; sums may differ in the last bits (another order of addition)."""
    wrong = len(old.keys() ^ new.keys())
    for key in old.keys() & new.keys():
        a, b = old[key], new[key]
        if a[:2] + a[3:] != b[:2] + b[3:] or not math.isclose(a[2], b[2], rel_tol=1e-12):
            wrong += 1
    return wrong


async def stored(database: Database) -> tuple[int, int]:
    """(samples, readings) in the database: what the figures are checked against."""
    async with database.transaction() as c:
        samples = (await c.execute(select(func.count()).select_from(t.meter_samples))).scalar_one()
        readings = (await c.execute(select(func.count()).select_from(t.meter_readings))).scalar_one()
    return int(samples), int(readings)


def expect(what: str, counted: int, in_database: int) -> None:
    """A figure the benchmark counted must be what the database holds, or the run fails."""
    if counted != in_database:
        raise SystemExit(f"historian benchmark failed: {what}: counted {counted:,}, the database holds {in_database:,}")


async def settled(aggregator: MeterAggregator) -> MeterAggregator:
    """The aggregator with every row already written counted as committed (PostgreSQL waits for a settle time
    before it folds above a gap in the ids; nothing is in flight here)."""
    async with aggregator._database.transaction() as c:
        await aggregator._safe_id(c)
    await asyncio.sleep(0.01)
    return aggregator


async def timed_batches(aggregator: MeterAggregator) -> tuple[int, float, list[float]]:
    """Readings, seconds in all, and each batch's seconds, sorted."""
    rows, batches = 0, []
    started = time.perf_counter()
    while True:
        begun = time.perf_counter()
        done = await aggregator.run_once()
        if done == 0:
            break
        rows += done
        batches.append(time.perf_counter() - begun)
    return rows, time.perf_counter() - started, sorted(batches)


async def aggregate_mode(args: argparse.Namespace, url: str) -> None:
    database = Database(url)
    await database.migrate()
    async with database.transaction() as c:  # a scratch database may hold an earlier run's rows
        for table in (t.meter_aggregates, t.historian_watermarks, t.meter_readings):
            await c.execute(table.delete())
    rows = await fill_interleaved(database, args.stations, args.rows)
    samples, readings = await stored(database)
    expect("samples written", rows, samples)
    print(
        f"{rows:,} raw rows in {readings:,} readings of {args.stations} stations, {database.engine.dialect.name},"
        f" batch {args.batch:,} readings"
    )
    figures = {}
    for name, kind in (("old (Python fold)", LegacyAggregator), ("new (SQL)", MeterAggregator)):
        async with database.transaction() as c:
            await c.execute(t.meter_aggregates.delete())
            await c.execute(t.historian_watermarks.delete())
        aggregator = await settled(kind(database, batch=args.batch, commit_settle_seconds=0.001))
        folded, seconds, batches = await timed_batches(aggregator)
        expect(f"readings folded by {name}", folded, readings)
        figures[name] = (folded / seconds, await buckets(database))
        median, p95 = batches[len(batches) // 2] * 1000, batches[len(batches) * 95 // 100] * 1000
        print(
            f"{name:<18} {folded:,} readings in {seconds:6.2f} s: {folded / seconds:9,.0f} readings/s;"
            f" {len(batches)} batches"
            f" of {median:5.1f} ms (median), p95 {p95:5.1f} ms, longest {batches[-1] * 1000:5.1f} ms"
        )
    (old_rate, old_buckets), (new_rate, new_buckets) = figures.values()
    print(f"ratio new/old: {new_rate / old_rate:.1f}x; {len(new_buckets):,} buckets")
    wrong = differences(old_buckets, new_buckets)
    await database.close()
    if wrong:
        raise SystemExit(f"historian benchmark failed: {wrong} buckets differ from the Python fold's")
    print("same buckets as the Python fold")


async def timed(label: str, make, repeat: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = math.inf, None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await make()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<48} {best * 1000:9.1f} ms")
    return best, result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stations", type=int, help="default: 5, or 100 with --aggregate")
    parser.add_argument("--aggregate", action="store_true", help="time the aggregator alone, old fold against new")
    parser.add_argument("--rows", type=int, default=200_000, help="raw rows for --aggregate")
    parser.add_argument("--batch", type=int, default=HistorianSettings().aggregate_batch, help="readings per batch")
    parser.add_argument("--interval", type=int, default=60, help="seconds between samples")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        if args.aggregate:
            args.stations = args.stations or 100
            await aggregate_mode(args, url)
            return
        args.stations = args.stations or 5
        settings = Settings(database_url=url)  # type: ignore[call-arg]
        database = Database(url)
        await database.migrate()
        store = SqlStore(database)
        core = build_core(settings, store, LocalBus())
        for n in range(args.stations):
            await core.stations.register(
                station_id=StationId(f"BENCH-{n:04d}"),
                security_profile=SecurityProfile.NONE,
                password=None,
                registration=RegistrationStatus.ACCEPTED,
            )
        started = time.perf_counter()
        rows = await fill(database, args.stations, args.interval)
        took = time.perf_counter() - started
        samples, readings = await stored(database)
        expect("samples written", rows, samples)
        print(f"{rows:,} raw rows ({args.stations} stations x {DAYS} days) inserted in {took:.1f} s")
        aggregator = await settled(MeterAggregator(database, commit_settle_seconds=0.001))
        started = time.perf_counter()
        folded = await aggregator.catch_up()
        seconds = time.perf_counter() - started
        expect("readings folded", folded, readings)
        print(f"aggregator: {folded:,} readings folded in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")

        sid = StationId("BENCH-0000")
        end = START + timedelta(days=DAYS)
        power = [MEASURANDS[0][0]]

        async def raw() -> int:
            async with store.unit() as uow:
                found = await uow.historian.raw(
                    scope=SampleScope(sid), start=START, end=end, measurands=power, phases=[], limit=10_000_000
                )
            return len(found)

        async def auto() -> int:
            answer = await core.historian.station_samples(
                station_id=sid,
                start=START,
                end=end,
                measurands=power,
                phases=[],
                evse_id=None,
                connector_id=None,
                resolution=Resolution.AUTO,
            )
            print(f"  auto chose {answer.resolution}: {len(answer.series[0].buckets)} buckets")
            return len(answer.series[0].buckets)

        raw_time, raw_points = await timed("a month, one measurand, raw", raw)
        expect("raw points read", raw_points, DAYS * 86400 // args.interval)  # type: ignore[arg-type]
        auto_time, _ = await timed("a month, one measurand, auto (buckets)", auto)
        print(f"raw points: {raw_points:,}; buckets are {raw_time / auto_time:.1f}x faster than raw")
        await store.close()
        await database.close()


if __name__ == "__main__":
    asyncio.run(main())
