"""Retention: old history is deleted in the background, in small batches with pauses between them.

No delete holds the database for long (on SQLite the gateway shares the one writer connection): each statement
removes at most `prune_batch` rows, found by primary key, and the pruner sleeps `prune_pause` between statements.
Tables without an index on their time column (meter_readings, status_history) are pruned in primary-key order: a
window of ids is deleted where its rows are old enough, and pruning stops at the first window with nothing to delete.
A late sample (old timestamp, new id) therefore goes when the rows received with it go.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Table, delete, func, select, tuple_

from evscada.core.ports import Clock
from evscada.storage import tables as t
from evscada.storage.db import Database
from evscada.storage.historian.samples import WATERMARK
from evscada.storage.historian.settings import HistorianSettings

log = logging.getLogger(__name__)


class Pruner:
    def __init__(self, database: Database, settings: HistorianSettings, clock: Clock) -> None:
        self._database = database
        self._settings = settings
        self._clock = clock

    async def run(self) -> None:
        """Prune every `prune_interval` seconds, the first time a minute after start; owned by Application."""
        await asyncio.sleep(min(60.0, self._settings.prune_interval))
        while True:
            try:
                await self.prune_once()
            except Exception:  # the next round tries again; nothing is lost by pruning late
                log.exception("retention: pruning failed")
            await asyncio.sleep(self._settings.prune_interval)

    async def prune_once(self) -> dict[str, int]:
        """One round over every table with a retention; rows deleted per table."""
        s = self._settings
        now = self._clock.now()
        done: dict[str, int] = {}

        def cutoff(days: float | None) -> datetime | None:
            return None if days is None else now - timedelta(days=days)

        if (at := cutoff(s.raw_sample_days)) is not None:
            # Only rows the aggregator has folded in: buckets must not miss what retention took first.
            done["meter_readings"] = await self._by_id(
                t.meter_readings, t.meter_readings.c.timestamp, at, below=await self._watermark()
            )
        if (at := cutoff(s.status_history_days)) is not None:
            done["status_history"] = await self._by_id(t.status_history, t.status_history.c.timestamp, at)
        if (at := cutoff(s.connectivity_days)) is not None:
            done["station_connectivity"] = await self._by_id(t.station_connectivity, t.station_connectivity.c.at, at)
        if (at := cutoff(s.message_receipt_days)) is not None:
            done["message_receipts"] = await self._receipts(at)
        for resolution, days in ((60, s.aggregate_1m_days), (900, s.aggregate_15m_days)):
            if (at := cutoff(days)) is not None:
                done[f"meter_aggregates_{resolution // 60}m"] = await self._aggregates(resolution, at)
        for name, count in done.items():
            if count:
                log.info("retention: deleted %d old rows from %s", count, name)
        return done

    async def _watermark(self) -> int:
        w = t.historian_watermarks.c
        async with self._database.transaction() as connection:
            value = (await connection.execute(select(w.last_id).where(w.name == WATERMARK))).scalar()
        return int(value or 0)

    async def _by_id(self, table: Table, time: Column[Any], cutoff: datetime, *, below: int | None = None) -> int:
        """Delete old rows window by window of ids, up to the first window where nothing is old."""
        batch = self._settings.prune_batch
        pk = table.c.id
        limit = [pk < below] if below is not None else []
        total = 0
        async with self._database.transaction() as connection:
            low = (await connection.execute(select(func.min(pk)).where(*limit))).scalar()
        while low is not None:
            async with self._database.transaction() as connection:
                window = [pk >= low, pk < low + batch, *limit]
                deleted = (await connection.execute(delete(table).where(*window, time < cutoff))).rowcount
                if not deleted:
                    break
                total += deleted
                low = (await connection.execute(select(func.min(pk)).where(pk >= low + batch, *limit))).scalar()
            await asyncio.sleep(self._settings.prune_pause)
        return total

    async def _receipts(self, cutoff: datetime) -> int:
        c = t.message_receipts.c
        oldest = select(c.station_id, c.message_key).where(c.received_at < cutoff).limit(self._settings.prune_batch)
        return await self._repeat(delete(t.message_receipts).where(tuple_(c.station_id, c.message_key).in_(oldest)))

    async def _aggregates(self, resolution: int, cutoff: datetime) -> int:
        a = t.meter_aggregates.c
        oldest = (
            select(a.id).where(a.resolution == resolution, a.bucket_start < cutoff).limit(self._settings.prune_batch)
        )
        return await self._repeat(delete(t.meter_aggregates).where(a.id.in_(oldest)))

    async def _repeat(self, statement: Any) -> int:
        """Run a bounded delete until it deletes less than a full batch."""
        total = 0
        while True:
            async with self._database.transaction() as connection:
                deleted = (await connection.execute(statement)).rowcount
            total += deleted
            if deleted < self._settings.prune_batch:
                return total
            await asyncio.sleep(self._settings.prune_pause)
