"""Group commit for meter values: the samples of many stations go to the database in one transaction.

Each caller waits for the commit that holds its samples, so a station is answered only once its data is stored;
while one commit runs, the next batch gathers (no timers: under load batches grow, when quiet each is one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import EvseRef, MeterSample, StationId, TransactionPk
from evscada.core.ports import MeterWrite
from evscada.storage import tables as t
from evscada.storage.db import Database

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # messages per commit; bounds one transaction's size and a statement's parameters


@dataclass(slots=True)
class _Pending:
    station_id: StationId
    evse: EvseRef
    station_transaction_id: str | None
    samples: Sequence[MeterSample]
    message_key: str | None
    at: datetime
    future: asyncio.Future[MeterWrite] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class MeterSampleWriter:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None

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
        item = _Pending(station_id, evse, station_transaction_id, samples, message_key, at)
        self._queue.append(item)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="meter-sample-writer")
        return await item.future

    async def close(self) -> None:
        """Let the last batch reach the database."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                async with self._database.transaction() as connection:
                    results = await _write(connection, batch)
            except Exception as exc:  # every waiting station gets the failure (a CALLERROR), none is lost silently
                log.exception("writing %d meter value messages failed", len(batch))
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)


async def _write(connection: AsyncConnection, batch: list[_Pending]) -> list[MeterWrite]:
    fresh = await _claim_receipts(connection, batch)
    transactions = await _transaction_pks(connection, batch)
    rows = []
    results = []
    for index, item in enumerate(batch):
        pk = transactions.get((item.station_id, item.station_transaction_id)) if item.station_transaction_id else None
        if index not in fresh:
            results.append(MeterWrite(stored=False, transaction_pk=pk))
            continue
        results.append(MeterWrite(stored=True, transaction_pk=pk))
        rows.extend(
            {
                "station_id": item.station_id,
                "evse_id": item.evse.evse_id,
                "connector_id": item.evse.connector_id,
                "transaction_pk": pk,
                "timestamp": s.timestamp,
                "measurand": s.measurand,
                "phase": s.phase,
                "location": s.location,
                "context": s.context,
                "unit": s.unit,
                "value": s.value,
                "raw": s.raw,
            }
            for s in item.samples
        )
    if rows:
        await connection.execute(insert(t.meter_samples), rows)
    return results


async def _claim_receipts(connection: AsyncConnection, batch: list[_Pending]) -> set[int]:
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
    values = [{"station_id": sid, "message_key": key, "received_at": batch[i].at} for (sid, key), i in first_of.items()]
    build = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = (
        build(t.message_receipts)
        .values(values)
        .on_conflict_do_nothing()
        .returning(t.message_receipts.c.station_id, t.message_receipts.c.message_key)
    )
    claimed = {(row.station_id, row.message_key) for row in await connection.execute(statement)}
    fresh.update(index for pair, index in first_of.items() if pair in claimed)
    return fresh


async def _transaction_pks(connection: AsyncConnection, batch: list[_Pending]) -> dict[tuple[str, str], TransactionPk]:
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
