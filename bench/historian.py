"""Historian benchmark: a month of meter samples for N stations; a month's series read raw vs from the buckets.

    .venv/bin/python bench/historian.py [--stations 5] [--interval 60] [--database-url URL]

Rows go straight into meter_samples (a set-up shortcut, not the gateway's path), the aggregator folds them in
(timed), then one station's month of one measurand is read raw (every sample) and with resolution auto (the
buckets), through the same core service the API uses. It prints both times and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from evscada.app import build_core
from evscada.bus.local import LocalBus
from evscada.core.historian import Resolution, SampleScope
from evscada.core.model import RegistrationStatus, SecurityProfile, StationId
from evscada.settings import Settings
from evscada.storage import tables as t
from evscada.storage.aggregator import MeterAggregator
from evscada.storage.db import Database
from evscada.storage.repositories import SqlStore

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
MEASURANDS = (("Power.Active.Import", "W"), ("Energy.Active.Import.Register", "Wh"))


async def fill(database: Database, stations: int, interval: int) -> int:
    rows = 0
    steps = DAYS * 86400 // interval
    for n in range(stations):
        sid = f"BENCH-{n:04d}"
        batch = []
        for i in range(steps):
            at = START + timedelta(seconds=i * interval)
            power = 11000 + 11000 * math.sin(i / 97 + n)
            for measurand, unit in MEASURANDS:
                value = power if unit == "W" else i * 3.0
                batch.append(
                    {
                        "station_id": sid,
                        "evse_id": 1,
                        "connector_id": 1,
                        "timestamp": at,
                        "measurand": measurand,
                        "unit": unit,
                        "value": value,
                    }
                )
            if len(batch) >= 20_000:
                async with database.transaction() as c:
                    await c.execute(insert(t.meter_samples), batch)
                rows += len(batch)
                batch = []
        if batch:
            async with database.transaction() as c:
                await c.execute(insert(t.meter_samples), batch)
            rows += len(batch)
    return rows


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
    parser.add_argument("--stations", type=int, default=5)
    parser.add_argument("--interval", type=int, default=60, help="seconds between samples")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
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
        print(f"{rows:,} raw rows ({args.stations} stations x {DAYS} days) inserted in {took:.1f} s")
        started = time.perf_counter()
        folded = await MeterAggregator(database).catch_up()
        seconds = time.perf_counter() - started
        print(f"aggregator: {folded:,} rows folded in {seconds:.1f} s ({folded / seconds:,.0f} rows/s)")

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
        auto_time, _ = await timed("a month, one measurand, auto (buckets)", auto)
        print(f"raw points: {raw_points:,}; buckets are {raw_time / auto_time:.1f}x faster than raw")
        await store.close()
        await database.close()


if __name__ == "__main__":
    asyncio.run(main())
