"""2.0.1 device models: what stations report of their components and variables (NotifyReport), kept per station."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from evscada.core.errors import UnknownStation
from evscada.core.model import StationId, StationMessage
from evscada.core.ports import Clock, Store
from evscada.core.stations.repositories import StationMessageRepository, StationRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceVariable:
    """One attribute (Actual, Target, MinSet, MaxSet) of one variable of one component, as last reported."""

    component: str
    variable: str
    attribute_type: str = "Actual"
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str | None = None
    value: str | None = None
    mutability: str | None = None  # ReadOnly | WriteOnly | ReadWrite
    persistent: bool | None = None
    constant: bool | None = None
    data_type: str | None = None  # characteristics of the variable
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    values_list: str | None = None
    supports_monitoring: bool | None = None
    request_id: int | None = None  # of the report it came in
    reported_at: datetime | None = None  # the report's generatedAt


@dataclass(frozen=True, slots=True)
class DeviceModelFilter:
    component: str | None = None
    variable: str | None = None
    evse_id: int | None = None
    attribute_type: str | None = None
    limit: int = 1000
    offset: int = 0


class DeviceModelRepository(Protocol):
    async def upsert(self, *, station_id: StationId, variables: Sequence[DeviceVariable]) -> None:
        """Insert each attribute, or replace the one with the same component, variable and attribute type."""
        ...

    async def list(self, *, station_id: StationId, where: DeviceModelFilter) -> list[DeviceVariable]: ...


class DeviceModelUnit(Protocol):
    device_model: DeviceModelRepository
    stations: StationRepository
    messages: StationMessageRepository  # each NotifyReport part is kept as a message too


class DeviceModelService:
    def __init__(self, *, store: Store[DeviceModelUnit], clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def record_report(
        self, *, station_id: StationId, message: StationMessage, variables: Sequence[DeviceVariable]
    ) -> None:
        """One NotifyReport part: kept as a message, and its variables folded into the station's model."""
        async with self._store.unit() as uow:
            await uow.messages.add(station_id=station_id, message=message, received_at=self._clock.now())
            await uow.device_model.upsert(station_id=station_id, variables=variables)
        log.debug("%s: %d device model attribute(s) reported", station_id, len(variables))

    async def variables(self, *, station_id: StationId, where: DeviceModelFilter) -> list[DeviceVariable]:
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise UnknownStation(f"station {station_id} is not registered")
            return await uow.device_model.list(station_id=station_id, where=where)
