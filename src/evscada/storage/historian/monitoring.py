"""SQL behind core.monitoring: running sessions with their latest samples, status history, sample ranges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.historian.monitoring import StationSample, StatusChange
from evscada.core.model import StationId, Transaction, TransactionPk, TransactionState, VehicleId
from evscada.storage import tables as t
from evscada.storage.charging.meter_samples import meter_sample_from
from evscada.storage.charging.transactions import transaction_from


def _sample_from(r: Mapping[str, Any]) -> StationSample:
    return StationSample(
        evse_id=r["evse_id"],
        transaction_pk=r["transaction_pk"],
        sample=meter_sample_from(r),
    )


class SqlMonitoring:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def status_history(self, *, station_id: StationId, limit: int) -> list[StatusChange]:
        c = t.status_history.c
        rows = await self._c.execute(
            select(t.status_history).where(c.station_id == station_id).order_by(c.id.desc()).limit(limit)
        )
        return [
            StatusChange(
                evse_id=r["evse_id"],
                connector_id=r["connector_id"],
                status=r["status"],
                error_code=r["error_code"],
                info=r["info"],
                timestamp=r["timestamp"],
            )
            for r in rows.mappings()
        ]

    async def running(self, *, station_ids: Sequence[StationId] | None) -> list[Transaction]:
        c = t.transactions.c
        statement = select(t.transactions).where(c.state == str(TransactionState.RUNNING))
        if station_ids is not None:
            statement = statement.where(c.station_id.in_(list(station_ids)))
        statement = statement.order_by(c.station_id, c.evse_id)
        return [transaction_from(r) for r in (await self._c.execute(statement)).mappings()]

    async def token_vehicles(self, *, tokens: Sequence[str]) -> dict[str, VehicleId]:
        if not tokens:
            return {}
        c = t.tokens.c
        rows = await self._c.execute(
            select(c.value, c.vehicle_id).where(c.value.in_(list(tokens)), c.vehicle_id.is_not(None))
        )
        return {value: VehicleId(vehicle_id) for value, vehicle_id in rows}

    async def recent_samples(self, *, transaction_pks: Sequence[TransactionPk], since: datetime) -> list[StationSample]:
        c = t.meter_samples.c
        rows = await self._c.execute(
            select(t.meter_samples)
            .where(c.transaction_pk.in_(list(transaction_pks)), c.timestamp >= since)
            .order_by(c.timestamp, c.id)
        )
        return [_sample_from(r) for r in rows.mappings()]
