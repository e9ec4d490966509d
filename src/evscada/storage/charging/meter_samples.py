"""SQL for meter samples outside the group commit, and the one mapping of a meter_samples row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import EvseRef, MeterSample, StationId, TransactionPk
from evscada.storage.charging.sample_writer import insert_readings


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
    ) -> None:
        if not samples:
            return
        await insert_readings(self._c, station_id=station_id, evse=evse, transaction_pk=transaction_pk, samples=samples)
