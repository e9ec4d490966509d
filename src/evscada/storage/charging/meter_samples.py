"""SQL for meter samples outside the group commit, and the one mapping of a meter_samples row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import EvseRef, MeterSample, StationId, TransactionPk
from evscada.storage import tables as t
from evscada.storage.charging.readings import packed
from evscada.storage.charging.sample_writer import insert_readings

_r = t.meter_readings.c
# The transaction's readings at given times (its index, then the times): what a transaction's end may repeat.
_STORED_AT = select(_r.timestamp, _r.samples).where(
    _r.transaction_pk == bindparam("p_pk"), _r.timestamp.in_(bindparam("p_times", expanding=True))
)


def meter_sample_from(row: Mapping[str, Any]) -> MeterSample:
    return MeterSample(
        timestamp=row["timestamp"],
        value=row["value"],
        measurand=row["measurand"],
        unit=row["unit"],
        phase=row["phase"],
        location=row["location"],
        context=row["context"],
        raw=row["raw"],
    )


class SqlMeterSamples:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(
        self,
        *,
        station_id: StationId,
        evse: EvseRef,
        transaction_pk: TransactionPk | None,
        samples: Sequence[MeterSample],
        skip_stored: bool = False,
    ) -> None:
        if skip_stored and transaction_pk is not None and samples:
            stored = await self._stored(transaction_pk, samples)
            samples = [s for s in samples if (s.timestamp, packed(s)) not in stored]
        if not samples:
            return
        await insert_readings(self._c, station_id=station_id, evse=evse, transaction_pk=transaction_pk, samples=samples)

    async def _stored(self, transaction_pk: TransactionPk, samples: Sequence[MeterSample]) -> set[tuple[Any, ...]]:
        """(time, packed value) of every value the transaction's readings at the samples' times hold."""
        times = list({s.timestamp for s in samples})
        rows = await self._c.execute(_STORED_AT, {"p_pk": transaction_pk, "p_times": times})
        stored = set()
        for at, values in rows:
            # TEXT on SQLite, JSONB (already decoded) on PostgreSQL.
            for value in orjson.loads(values) if isinstance(values, str) else values:
                stored.add((at, tuple(value)))
        return stored
