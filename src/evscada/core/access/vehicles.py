"""Vehicles (buses, cars) and the tokens they charge with; a session records the vehicle its token belongs to."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from datetime import UTC, datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from evscada.core.access import departures
from evscada.core.access.audit import SYSTEM, Auditor, AuditRepository
from evscada.core.charging.repositories import TokenRepository
from evscada.core.clock import SystemClock
from evscada.core.errors import InvalidArgument, UnknownToken, UnknownVehicle, VehicleExists
from evscada.core.model import Token, Vehicle, VehicleId
from evscada.core.ports import Clock, Store

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

    async def count(self, *, search: str | None = None) -> int: ...

    async def by_reference(self, *, reference: str) -> list[Vehicle]:
        """Vehicles named `reference` (any case), or with it as their fleet number or plate."""
        ...

    async def save(self, *, vehicle: Vehicle) -> None: ...

    async def delete(self, *, vehicle_id: VehicleId) -> bool: ...

    async def list(self, *, search: str | None = None, limit: int | None = None, offset: int = 0) -> list[Vehicle]:
        """By name; `search`: those whose name, plate, fleet number or fleet contains it (any case). Last: after
        it, `list` in this class body means the method."""
        ...


class VehicleUnit(Protocol):
    vehicles: VehicleRepository
    tokens: TokenRepository  # the tokens a vehicle charges with
    audit: AuditRepository


# What departure-aware charging accepts: a priority in this range, at most this much power per vehicle.
PRIORITY_RANGE = (0, 100)  # 0 for most; higher charges first
MAX_VEHICLE_POWER_W = 1e6


def _check_vehicle(vehicle: Vehicle) -> None:
    if not vehicle.name.strip():
        raise InvalidArgument("a vehicle needs a name", field="name")
    capacity = vehicle.battery_capacity_wh
    if capacity is not None and not (math.isfinite(capacity) and capacity > 0):
        raise InvalidArgument(
            "battery_capacity_wh must be a positive number of watt-hours", field="battery_capacity_wh"
        )
    if vehicle.departure_time is not None and vehicle.departure_time.tzinfo is not None:
        raise InvalidArgument(
            "departure_time is a time of day without an offset: it is read in the operator's time zone",
            field="departure_time",
        )
    if vehicle.next_departure is not None and vehicle.next_departure.tzinfo is None:
        raise InvalidArgument(
            "next_departure needs a time zone offset (e.g. 2026-03-29T04:30:00Z)", field="next_departure"
        )
    target = vehicle.target_soc_pct
    if target is not None and not (math.isfinite(target) and 1 <= target <= 100):
        raise InvalidArgument("target_soc_pct must be between 1 and 100 %", field="target_soc_pct")
    low, high = PRIORITY_RANGE
    if type(vehicle.priority) is not int or not low <= vehicle.priority <= high:
        raise InvalidArgument(f"priority must be a whole number from {low} to {high}", field="priority")
    power = vehicle.max_power_w
    if power is not None and not (math.isfinite(power) and 0 < power <= MAX_VEHICLE_POWER_W):
        raise InvalidArgument(
            f"max_power_w must be more than 0 and at most {MAX_VEHICLE_POWER_W:.0f} W", field="max_power_w"
        )


def _audited(vehicle: Vehicle) -> dict[str, Any]:
    """The vehicle's fields as the audit log stores them (JSON: times as ISO 8601 text)."""
    return {
        name: value.isoformat() if isinstance(value, datetime | time) else value
        for name, value in asdict(vehicle).items()
    }


def _to_utc(vehicle: Vehicle) -> None:
    if vehicle.next_departure is not None:
        vehicle.next_departure = vehicle.next_departure.astimezone(UTC)


class VehicleService:
    def __init__(
        self,
        *,
        store: Store[VehicleUnit],
        audit: Auditor | None = None,
        clock: Clock | None = None,
        zone: ZoneInfo | None = None,
    ) -> None:
        self._store = store
        self._audit = audit or Auditor()
        self._clock = clock or SystemClock()
        self._zone = zone or ZoneInfo("UTC")

    @property
    def zone(self) -> ZoneInfo:
        """The operator's time zone (the setting operator_timezone): daily departures are times of day on its clock."""
        return self._zone

    def next_departure_at(self, vehicle: Vehicle) -> datetime | None:
        """When the vehicle leaves next (UTC), from now on; None when it has no departure."""
        return departures.next_departure(vehicle, self._clock.now(), self._zone)

    async def create(
        self,
        *,
        name: str,
        plate: str | None = None,
        fleet_number: str | None = None,
        fleet: str | None = None,
        battery_capacity_wh: float | None = None,
        departure_time: time | None = None,
        next_departure: datetime | None = None,
        target_soc_pct: float | None = None,
        priority: int = 0,
        max_power_w: float | None = None,
        actor: str = SYSTEM,
    ) -> Vehicle:
        vehicle = Vehicle(
            VehicleId(0),
            name.strip(),
            plate,
            fleet_number,
            fleet,
            battery_capacity_wh,
            departure_time=departure_time,
            next_departure=next_departure,
            target_soc_pct=target_soc_pct,
            priority=priority,
            max_power_w=max_power_w,
        )
        _check_vehicle(vehicle)
        _to_utc(vehicle)
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
                details=_audited(vehicle),
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

    async def count(self, *, search: str | None = None) -> int:
        """How many vehicles there are (matching `search`): the total a paged list shows."""
        async with self._store.unit() as uow:
            return await uow.vehicles.count(search=search)

    async def resolve(self, *, reference: str) -> Vehicle:
        """The one vehicle an operator means by a name, fleet number or plate: typed, not picked from a list of
        a thousand. A name wins over a fleet number or plate; two vehicles that fit equally are an error."""
        text = reference.strip()
        if not text:
            raise InvalidArgument("give a vehicle's name, fleet number or plate", field="vehicle")
        async with self._store.unit() as uow:
            found = await uow.vehicles.by_reference(reference=text)
        named = [v for v in found if v.name.lower() == text.lower()]
        candidates = named or found
        if not candidates:
            raise UnknownVehicle(f"no vehicle named {text!r} or with that fleet number or plate; check the spelling")
        if len(candidates) > 1:
            names = ", ".join(f"{v.name} (fleet no. {v.fleet_number or '-'})" for v in candidates[:5])
            raise InvalidArgument(
                f"{text!r} fits {len(candidates)} vehicles: {names}; give the vehicle's full name", field="vehicle"
            )
        return candidates[0]

    async def update(self, *, vehicle: Vehicle, actor: str = SYSTEM) -> Vehicle:
        """Replace a vehicle's fields with these."""
        vehicle.name = vehicle.name.strip()
        _check_vehicle(vehicle)
        _to_utc(vehicle)
        async with self._store.unit() as uow:
            before = await uow.vehicles.get(vehicle_id=vehicle.id)
            if before is None:
                raise UnknownVehicle(f"no vehicle {vehicle.id}")
            same_name = await uow.vehicles.by_name(name=vehicle.name)
            if same_name is not None and same_name.id != vehicle.id:
                raise VehicleExists(f"a vehicle named {vehicle.name!r} exists already")
            await uow.vehicles.save(vehicle=vehicle)
            old, new = _audited(before), _audited(vehicle)
            await self._audit.record(
                uow,
                actor=actor,
                action="vehicle.update",
                target_type="vehicle",
                target_id=vehicle.id,
                details={k: {"from": old[k], "to": new[k]} for k in new if old[k] != new[k]},
            )
        return vehicle

    async def set_fleet_priority(self, *, fleet: str, priority: int, actor: str = SYSTEM) -> list[Vehicle]:
        """Give every vehicle of a fleet the same charging priority (a fleet's priority is its vehicles')."""
        low, high = PRIORITY_RANGE
        if not low <= priority <= high:
            raise InvalidArgument(f"priority: must be {low} to {high}, not {priority}", field="priority")
        async with self._store.unit() as uow:
            members = [v for v in await uow.vehicles.list() if v.fleet == fleet]
            if not members:
                raise UnknownVehicle(f"no vehicle in fleet {fleet!r}: set the fleet on its vehicles first")
            changed = [v for v in members if v.priority != priority]
            for vehicle in changed:
                vehicle.priority = priority
                await uow.vehicles.save(vehicle=vehicle)
            await self._audit.record(
                uow,
                actor=actor,
                action="fleet.priority",
                target_type="fleet",
                target_id=fleet,
                details={"priority": priority, "vehicles": [v.id for v in changed]},
            )
        return members

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

    async def list(self, *, search: str | None = None, limit: int | None = None, offset: int = 0) -> list[Vehicle]:
        """Every vehicle by name, or a page of those matching `search` (name, plate, fleet number or fleet). Last in
        the class: after it, `list` in this class body means the method."""
        async with self._store.unit() as uow:
            return await uow.vehicles.list(search=search, limit=limit, offset=offset)
