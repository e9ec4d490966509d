"""Read models for watching stations: live readings of running sessions, status history, samples over time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from evscada.core.model import MeterSample, StationId, Transaction, TransactionPk, VehicleId, energy_between
from evscada.core.ports import Clock, Store

POWER = "Power.Active.Import"
ENERGY = "Energy.Active.Import.Register"
SOC = "SoC"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"

# A running session's readings older than this are not "live" any more (the station stopped reporting).
LIVE_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class StatusChange:
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class StationSample:
    """A meter sample with the EVSE it was taken on."""

    evse_id: int
    transaction_pk: TransactionPk | None
    sample: MeterSample


@dataclass(frozen=True, slots=True)
class LiveReading:
    """What a running session does now: the latest values the station reported."""

    transaction: Transaction
    power_w: float | None
    energy_wh: float | None  # delivered so far in this session
    soc: float | None
    current_a: float | None
    at: datetime | None  # when the latest value was sampled
    vehicle_id: VehicleId | None = None  # the session's, else the one its token is linked to now


class MonitoringReads(Protocol):
    async def status_history(self, *, station_id: StationId, limit: int) -> list[StatusChange]: ...

    async def running(self, *, station_ids: Sequence[StationId] | None) -> list[Transaction]: ...

    async def token_vehicles(self, *, tokens: Sequence[str]) -> dict[str, VehicleId]:
        """The vehicle each of these tokens is linked to (tokens without one are left out)."""
        ...

    async def recent_samples(self, *, transaction_pks: Sequence[TransactionPk], since: datetime) -> list[StationSample]:
        """Samples of these transactions taken since then, oldest first."""
        ...


def latest_value(samples: Sequence[MeterSample], measurand: str) -> float | None:
    """The newest value of a measurand: its phase-less value, else the sum of its phases at that time."""
    matching = [s for s in samples if s.measurand == measurand and s.value is not None and s.location != "EV"]
    if measurand == SOC:
        matching = [s for s in samples if s.measurand == measurand and s.value is not None]
    if not matching:
        return None
    newest = max(s.timestamp for s in matching)
    at_newest = [s for s in matching if s.timestamp == newest]
    total = [s for s in at_newest if s.phase is None]
    if total:
        return total[-1].value
    phases = [s.value for s in at_newest if s.phase in ("L1", "L2", "L3") and s.value is not None]
    if not phases:
        return at_newest[-1].value
    return max(phases) if measurand == CURRENT else sum(phases)


def reading_of(
    transaction: Transaction, samples: Sequence[MeterSample], vehicle_id: VehicleId | None = None
) -> LiveReading:
    register = latest_value(samples, ENERGY)
    energy = None
    if register is not None:
        energy = energy_between(transaction.meter_start, register) if transaction.meter_start is not None else register
    return LiveReading(
        transaction=transaction,
        power_w=latest_value(samples, POWER),
        energy_wh=energy,
        soc=latest_value(samples, SOC),
        current_a=latest_value(samples, CURRENT),
        at=max((s.timestamp for s in samples), default=None),
        vehicle_id=transaction.vehicle_id if transaction.vehicle_id is not None else vehicle_id,
    )


class MonitoringUnit(Protocol):
    monitoring: MonitoringReads


class MonitoringService:
    def __init__(self, *, store: Store[MonitoringUnit], clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def live(self, *, station_ids: Sequence[StationId] | None = None) -> list[LiveReading]:
        """Every running session (of these stations) with its latest power, energy, SoC and current."""
        async with self._store.unit() as uow:
            running = await uow.monitoring.running(station_ids=station_ids)
            samples = (
                await uow.monitoring.recent_samples(
                    transaction_pks=[t.pk for t in running], since=self._clock.now() - LIVE_WINDOW
                )
                if running
                else []
            )
            vehicles = await uow.monitoring.token_vehicles(tokens=[t.id_token for t in running if t.id_token])
        by_transaction: dict[TransactionPk, list[MeterSample]] = {}
        for s in samples:
            if s.transaction_pk is not None:
                by_transaction.setdefault(s.transaction_pk, []).append(s.sample)
        return [
            reading_of(t, by_transaction.get(t.pk, []), vehicles.get(t.id_token) if t.id_token else None)
            for t in running
        ]

    async def status_history(self, *, station_id: StationId, limit: int = 100) -> list[StatusChange]:
        async with self._store.unit() as uow:
            return await uow.monitoring.status_history(station_id=station_id, limit=limit)
