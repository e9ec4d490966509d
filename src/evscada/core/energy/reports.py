"""What 2.0.1 stations report about charging limits: the profiles they hold (ReportChargingProfiles), a local energy
manager's limits (NotifyChargingLimit, ClearedChargingLimit) and what a vehicle asks for (NotifyEVChargingNeeds).

Each is kept as a station message too, in the same database transaction, and announced as every station message is
(StationMessageReceived, which the live stream and the console follow).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from evscada.core import events
from evscada.core.energy.profiles import ChargingProfile, ChargingSchedule
from evscada.core.errors import UnknownStation
from evscada.core.model import StationId, StationMessage
from evscada.core.ports import Clock, EventBus, Store
from evscada.core.stations.repositories import StationMessageRepository, StationRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReportedProfile:
    """A profile a station said it holds, in answer to GetChargingProfiles (request_id: that command's log id)."""

    request_id: int
    evse_id: int  # 0: the station
    source: str  # who set it: EMS, Other, SO, CSO
    profile: ChargingProfile
    reported_at: datetime


@dataclass(frozen=True, slots=True)
class ChargingLimit:
    """A limit set outside the CSMS (a local energy manager, the grid operator) that the station applies."""

    source: str  # EMS, Other, SO, CSO
    evse_id: int | None = None  # None: the station as a whole
    grid_critical: bool | None = None
    schedules: tuple[ChargingSchedule, ...] = ()
    id: int = 0
    reported_at: datetime | None = None
    ended_at: datetime | None = None  # None: still in force
    end_reason: str | None = None  # cleared (ClearedChargingLimit) | replaced (a newer one of the same source)

    @property
    def active(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True, slots=True)
class EvChargingNeeds:
    """What a vehicle asks for (ISO 15118 through the station); for departure-aware planning."""

    evse_id: int
    transfer_mode: str  # DC, AC_single_phase, AC_two_phase, AC_three_phase
    departure_time: datetime | None = None
    energy_amount_wh: float | None = None
    ev_min_current_a: float | None = None
    ev_max_current_a: float | None = None
    ev_max_voltage_v: float | None = None
    ev_max_power_w: float | None = None
    state_of_charge: float | None = None  # %
    ev_energy_capacity_wh: float | None = None
    full_soc: float | None = None  # %
    bulk_soc: float | None = None  # %
    max_schedule_tuples: int | None = None
    id: int = 0
    reported_at: datetime | None = None


class ChargingReportRepository(Protocol):
    async def add_reported(self, *, station_id: StationId, profiles: Sequence[ReportedProfile]) -> None:
        """Keep a report part; the first part of a newer request replaces what older requests reported."""
        ...

    async def reported(self, *, station_id: StationId) -> list[ReportedProfile]:
        """What the latest request reported."""
        ...

    async def add_limit(self, *, station_id: StationId, limit: ChargingLimit, at: datetime) -> None:
        """Keep a limit; the one in force from the same source on the same EVSE ends as replaced."""
        ...

    async def clear_limits(self, *, station_id: StationId, source: str, evse_id: int | None, at: datetime) -> int:
        """End the source's limits in force (evse_id None: on every EVSE); how many."""
        ...

    async def limits(self, *, station_id: StationId, active: bool | None, limit: int) -> list[ChargingLimit]:
        """Newest first; active None: all."""
        ...

    async def add_needs(self, *, station_id: StationId, needs: EvChargingNeeds, at: datetime) -> None: ...

    async def needs(self, *, station_id: StationId, evse_id: int | None, limit: int) -> list[EvChargingNeeds]:
        """Newest first."""
        ...


class ChargingReportUnit(Protocol):
    charging_reports: ChargingReportRepository
    messages: StationMessageRepository
    stations: StationRepository


class ChargingReportService:
    def __init__(self, *, store: Store[ChargingReportUnit], bus: EventBus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    async def record_profiles(
        self, *, station_id: StationId, profiles: Sequence[ReportedProfile], message: StationMessage
    ) -> None:
        """One ReportChargingProfiles part."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            await uow.messages.add(station_id=station_id, message=message, received_at=now)
            await uow.charging_reports.add_reported(station_id=station_id, profiles=profiles)
        self._announce(station_id, message)

    async def record_limit(self, *, station_id: StationId, limit: ChargingLimit, message: StationMessage) -> None:
        """NotifyChargingLimit."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            await uow.messages.add(station_id=station_id, message=message, received_at=now)
            await uow.charging_reports.add_limit(station_id=station_id, limit=limit, at=now)
        self._announce(station_id, message)
        log.info("%s: charging limit of %s on EVSE %s", station_id, limit.source, limit.evse_id or "all")

    async def record_limit_cleared(
        self, *, station_id: StationId, source: str, evse_id: int | None, message: StationMessage
    ) -> None:
        """ClearedChargingLimit: without an EVSE, the source's limits on every EVSE end."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            await uow.messages.add(station_id=station_id, message=message, received_at=now)
            ended = await uow.charging_reports.clear_limits(
                station_id=station_id, source=source, evse_id=evse_id, at=now
            )
        self._announce(station_id, message)
        log.info("%s: %d charging limit(s) of %s cleared", station_id, ended, source)

    async def record_needs(self, *, station_id: StationId, needs: EvChargingNeeds, message: StationMessage) -> None:
        """NotifyEVChargingNeeds."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            await uow.messages.add(station_id=station_id, message=message, received_at=now)
            await uow.charging_reports.add_needs(station_id=station_id, needs=needs, at=now)
        self._announce(station_id, message)
        self._bus.publish(
            events.EvChargingNeedsReported(
                station_id=station_id,
                at=now,
                evse_id=needs.evse_id,
                departure=needs.departure_time,
                energy_wh=needs.energy_amount_wh,
                soc_pct=needs.state_of_charge,
                capacity_wh=needs.ev_energy_capacity_wh,
                max_power_w=needs.ev_max_power_w,
            )
        )

    async def reported(self, *, station_id: StationId) -> list[ReportedProfile]:
        async with self._store.unit() as uow:
            await self._known(uow, station_id)
            return await uow.charging_reports.reported(station_id=station_id)

    async def limits(
        self, *, station_id: StationId, active: bool | None = True, limit: int = 100
    ) -> list[ChargingLimit]:
        async with self._store.unit() as uow:
            await self._known(uow, station_id)
            return await uow.charging_reports.limits(station_id=station_id, active=active, limit=limit)

    async def ev_charging_needs(
        self, *, station_id: StationId, evse_id: int | None = None, limit: int = 100
    ) -> list[EvChargingNeeds]:
        async with self._store.unit() as uow:
            await self._known(uow, station_id)
            return await uow.charging_reports.needs(station_id=station_id, evse_id=evse_id, limit=limit)

    def _announce(self, station_id: StationId, message: StationMessage) -> None:
        self._bus.publish(
            events.StationMessageReceived(
                station_id=station_id,
                at=message.timestamp,
                kind=message.kind,
                summary=message.summary,
                payload=message.payload,
                status=message.status,
                problems=message.problems,
            )
        )

    async def _known(self, uow: ChargingReportUnit, station_id: StationId) -> None:
        if await uow.stations.get(station_id=station_id) is None:
            raise UnknownStation(f"station {station_id} is not registered")
