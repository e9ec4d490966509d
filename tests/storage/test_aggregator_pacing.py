"""The aggregator catches up at full speed while no station waits for the database, and holds back while some do."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from evscada.core.model import EvseRef, MeterSample, StationId
from evscada.storage import tables as t
from evscada.storage.charging.sample_writer import insert_readings
from evscada.storage.db import Database
from evscada.storage.historian.aggregator import MeterAggregator

ROWS = 3000
BATCH = 100
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


async def _database_with_backlog(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'pacing.db'}")
    await database.migrate()
    samples = [
        MeterSample(T0 + timedelta(seconds=10 * n), float(n), "Power.Active.Import", unit="W") for n in range(ROWS)
    ]  # one reading each: every sample has its own time
    async with database.transaction() as c:
        await insert_readings(
            c, station_id=StationId("PACE-1"), evse=EvseRef(1, 1), transaction_pk=None, samples=samples
        )
    return database


async def _folded_after(database: Database, aggregator: MeterAggregator, seconds: float) -> int:
    """Readings the aggregator has folded after running this long (its watermark)."""
    task = asyncio.create_task(aggregator.run(interval=60))
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with database.transaction() as c:
        watermark = (await c.execute(select(func.max(t.historian_watermarks.c.last_id)))).scalar_one()
    return int(watermark or 0)


async def test_a_backlog_is_folded_at_once_while_the_gateway_is_idle(tmp_path: Path) -> None:
    database = await _database_with_backlog(tmp_path)
    aggregator = MeterAggregator(database, batch=BATCH, max_share=0.01, gateway_busy=lambda: False)

    assert await _folded_after(database, aggregator, 2.0) == ROWS
    await database.close()


async def test_while_stations_wait_the_aggregator_holds_the_database_only_its_share(tmp_path: Path) -> None:
    database = await _database_with_backlog(tmp_path)
    aggregator = MeterAggregator(database, batch=BATCH, max_share=0.01, gateway_busy=lambda: True)

    folded = await _folded_after(database, aggregator, 2.0)

    # One batch, then it rests 99 times as long as that batch took: a few batches in two seconds, not thirty.
    assert BATCH <= folded <= ROWS // 3
    await database.close()
