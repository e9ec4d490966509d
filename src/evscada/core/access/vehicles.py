"""Vehicles (buses, cars) and the tokens they charge with; a session records the vehicle its token belongs to."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from typing import Protocol

from evscada.core.access.audit import SYSTEM, Auditor, AuditRepository
from evscada.core.charging.repositories import TokenRepository
from evscada.core.errors import InvalidArgument, UnknownToken, UnknownVehicle, VehicleExists
from evscada.core.model import Token, Vehicle, VehicleId
from evscada.core.ports import Store

log = logging.getLogger(__name__)


class VehicleRepository(Protocol):
    async def add(self, *, vehicle: Vehicle) -> Vehicle:
        """Insert; assigns the id."""
        ...

    async def get(self, *, vehicle_id: VehicleId) -> Vehicle | None: ...

    async def by_name(self, *, name: str) -> Vehicle | None: ...

    async def names(self, *, vehicle_ids: set[VehicleId]) -> dict[VehicleId, str]: ...

    async def token_values(self, *, vehicle_id: VehicleId) -> list[str]:
        """The tokens linked to the vehicle."""
        ...

    async def list(self) -> list[Vehicle]: ...

    async def save(self, *, vehicle: Vehicle) -> None: ...

    async def delete(self, *, vehicle_id: VehicleId) -> bool: ...


class VehicleUnit(Protocol):
    vehicles: VehicleRepository
    tokens: TokenRepository  # the tokens a vehicle charges with
    audit: AuditRepository


def _check_vehicle(vehicle: Vehicle) -> None:
    if not vehicle.name.strip():
        raise InvalidArgument("a vehicle needs a name")
    capacity = vehicle.battery_capacity_wh
    if capacity is not None and not (math.isfinite(capacity) and capacity > 0):
        raise InvalidArgument("battery_capacity_wh must be a positive number of watt-hours")


class VehicleService:
    def __init__(self, *, store: Store[VehicleUnit], audit: Auditor | None = None) -> None:
        self._store = store
        self._audit = audit or Auditor()

    async def create(
        self,
        *,
        name: str,
        plate: str | None = None,
        fleet_number: str | None = None,
        fleet: str | None = None,
        battery_capacity_wh: float | None = None,
        actor: str = SYSTEM,
    ) -> Vehicle:
        vehicle = Vehicle(VehicleId(0), name.strip(), plate, fleet_number, fleet, battery_capacity_wh)
        _check_vehicle(vehicle)
        async with self._store.unit() as uow:
            if await uow.vehicles.by_name(name=vehicle.name) is not None:
                raise VehicleExists(f"a vehicle named {vehicle.name!r} exists already")
            vehicle = await uow.vehicles.add(vehicle=vehicle)
            await self._audit.record(
                uow,
                actor=actor,
                action="vehicle.create",
                target_type="vehicle",
                target_id=vehicle.id,
                details=asdict(vehicle),
            )
        log.info("vehicle %d created: %s", vehicle.id, vehicle.name)
        return vehicle

    async def get(self, *, vehicle_id: VehicleId) -> Vehicle:
        async with self._store.unit() as uow:
            vehicle = await uow.vehicles.get(vehicle_id=vehicle_id)
        if vehicle is None:
            raise UnknownVehicle(f"no vehicle {vehicle_id}")
        return vehicle

    async def detail(self, *, vehicle_id: VehicleId) -> tuple[Vehicle, list[str]]:
        """A vehicle and the tokens it charges with."""
        async with self._store.unit() as uow:
            vehicle = await uow.vehicles.get(vehicle_id=vehicle_id)
            if vehicle is None:
                raise UnknownVehicle(f"no vehicle {vehicle_id}")
            return vehicle, await uow.vehicles.token_values(vehicle_id=vehicle_id)

    async def list(self) -> list[Vehicle]:
        async with self._store.unit() as uow:
            return await uow.vehicles.list()

    async def update(self, *, vehicle: Vehicle, actor: str = SYSTEM) -> Vehicle:
        """Replace a vehicle's fields with these."""
        vehicle.name = vehicle.name.strip()
        _check_vehicle(vehicle)
        async with self._store.unit() as uow:
            before = await uow.vehicles.get(vehicle_id=vehicle.id)
            if before is None:
                raise UnknownVehicle(f"no vehicle {vehicle.id}")
            same_name = await uow.vehicles.by_name(name=vehicle.name)
            if same_name is not None and same_name.id != vehicle.id:
                raise VehicleExists(f"a vehicle named {vehicle.name!r} exists already")
            await uow.vehicles.save(vehicle=vehicle)
            old, new = asdict(before), asdict(vehicle)
            await self._audit.record(
                uow,
                actor=actor,
                action="vehicle.update",
                target_type="vehicle",
                target_id=vehicle.id,
                details={k: {"from": old[k], "to": new[k]} for k in new if old[k] != new[k]},
            )
        return vehicle

    async def delete(self, *, vehicle_id: VehicleId, actor: str = SYSTEM) -> None:
        """Its tokens stay, unlinked; past sessions keep the vehicle id they recorded."""
        async with self._store.unit() as uow:
            vehicle = await uow.vehicles.get(vehicle_id=vehicle_id)
            if vehicle is None or not await uow.vehicles.delete(vehicle_id=vehicle_id):
                raise UnknownVehicle(f"no vehicle {vehicle_id}")
            await self._audit.record(
                uow,
                actor=actor,
                action="vehicle.delete",
                target_type="vehicle",
                target_id=vehicle_id,
                details={"name": vehicle.name},
            )
        log.info("vehicle %d deleted", vehicle_id)

    async def link_token(self, *, token_value: str, vehicle_id: VehicleId | None, actor: str = SYSTEM) -> Token:
        """Say which vehicle a token charges (None: no vehicle)."""
        async with self._store.unit() as uow:
            token = await uow.tokens.get(value=token_value)
            if token is None:
                raise UnknownToken(f"no token {token_value}")
            if vehicle_id is not None and await uow.vehicles.get(vehicle_id=vehicle_id) is None:
                raise UnknownVehicle(f"no vehicle {vehicle_id}")
            before = token.vehicle_id
            token.vehicle_id = vehicle_id
            await uow.tokens.upsert(token=token)
            if before != vehicle_id:
                await self._audit.record(
                    uow,
                    actor=actor,
                    action="token.vehicle_link" if vehicle_id is not None else "token.vehicle_unlink",
                    target_type="token",
                    target_id=token_value,
                    details={"from": before, "to": vehicle_id},
                )
        return token

    async def names(self, *, vehicle_ids: set[VehicleId]) -> dict[VehicleId, str]:
        """Vehicle names by id, for listings that show them next to sessions."""
        if not vehicle_ids:
            return {}
        async with self._store.unit() as uow:
            return await uow.vehicles.names(vehicle_ids=vehicle_ids)
