"""Sites and vehicles: small tables read and written by operators, not on the gateway's hot path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import Site, SiteId, Vehicle, VehicleId
from evscada.storage import tables as t


def _site_from(row: Mapping[str, Any]) -> Site:
    return Site(
        id=SiteId(row["id"]),
        name=row["name"],
        address=row["address"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        grid_capacity_w=row["grid_capacity_w"],
        grid_capacity_a=row["grid_capacity_a"],
    )


def _site_values(site: Site) -> dict[str, Any]:
    return {
        "name": site.name,
        "address": site.address,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "grid_capacity_w": site.grid_capacity_w,
        "grid_capacity_a": site.grid_capacity_a,
    }


class SqlSites:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, site: Site) -> Site:
        result = await self._c.execute(
            insert(t.sites).values(**_site_values(site), created_at=func.now()).returning(t.sites.c.id)
        )
        site.id = SiteId(result.scalar_one())
        return site

    async def get(self, *, site_id: SiteId) -> Site | None:
        row = (await self._c.execute(select(t.sites).where(t.sites.c.id == site_id))).mappings().first()
        return None if row is None else _site_from(row)

    async def by_name(self, *, name: str) -> Site | None:
        row = (await self._c.execute(select(t.sites).where(t.sites.c.name == name))).mappings().first()
        return None if row is None else _site_from(row)

    async def list(self) -> list[Site]:
        rows = await self._c.execute(select(t.sites).order_by(t.sites.c.name))
        return [_site_from(row) for row in rows.mappings()]

    async def save(self, *, site: Site) -> None:
        await self._c.execute(update(t.sites).where(t.sites.c.id == site.id).values(**_site_values(site)))

    async def delete(self, *, site_id: SiteId) -> bool:
        # SQLite enforces no foreign keys here, so the stations are let go explicitly on both backends.
        await self._c.execute(update(t.stations).where(t.stations.c.site_id == site_id).values(site_id=None))
        result = await self._c.execute(t.sites.delete().where(t.sites.c.id == site_id))
        return bool(result.rowcount)


def _vehicle_from(row: Mapping[str, Any]) -> Vehicle:
    return Vehicle(
        id=VehicleId(row["id"]),
        name=row["name"],
        plate=row["plate"],
        fleet_number=row["fleet_number"],
        fleet=row["fleet"],
        battery_capacity_wh=row["battery_capacity_wh"],
        departure_time=row["departure_time"],
        next_departure=row["next_departure"],
        target_soc_pct=row["target_soc_pct"],
        priority=row["priority"],
        max_power_w=row["max_power_w"],
    )


def _vehicle_values(vehicle: Vehicle) -> dict[str, Any]:
    return {
        "name": vehicle.name,
        "plate": vehicle.plate,
        "fleet_number": vehicle.fleet_number,
        "fleet": vehicle.fleet,
        "battery_capacity_wh": vehicle.battery_capacity_wh,
        "departure_time": vehicle.departure_time,
        "next_departure": vehicle.next_departure,
        "target_soc_pct": vehicle.target_soc_pct,
        "priority": vehicle.priority,
        "max_power_w": vehicle.max_power_w,
    }


def _vehicles_matching(statement: Select[Any], search: str | None) -> Select[Any]:
    """Vehicles whose name, plate, fleet number or fleet contains `search` (any case)."""
    if not search:
        return statement
    c = t.vehicles.c
    return statement.where(
        or_(*(column.icontains(search, autoescape=True) for column in (c.name, c.plate, c.fleet_number, c.fleet)))
    )


class SqlVehicles:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, vehicle: Vehicle) -> Vehicle:
        result = await self._c.execute(
            insert(t.vehicles).values(**_vehicle_values(vehicle), created_at=func.now()).returning(t.vehicles.c.id)
        )
        vehicle.id = VehicleId(result.scalar_one())
        return vehicle

    async def get(self, *, vehicle_id: VehicleId) -> Vehicle | None:
        row = (await self._c.execute(select(t.vehicles).where(t.vehicles.c.id == vehicle_id))).mappings().first()
        return None if row is None else _vehicle_from(row)

    async def by_name(self, *, name: str) -> Vehicle | None:
        row = (await self._c.execute(select(t.vehicles).where(t.vehicles.c.name == name))).mappings().first()
        return None if row is None else _vehicle_from(row)

    async def token_values(self, *, vehicle_id: VehicleId) -> list[str]:
        c = t.tokens.c
        rows = await self._c.execute(select(c.value).where(c.vehicle_id == vehicle_id).order_by(c.value))
        return [row.value for row in rows]

    async def count(self, *, search: str | None = None) -> int:
        statement = _vehicles_matching(select(func.count()).select_from(t.vehicles), search)
        return int((await self._c.execute(statement)).scalar_one())

    async def by_reference(self, *, reference: str) -> list[Vehicle]:
        c = t.vehicles.c
        statement = select(t.vehicles).where(
            (func.lower(c.name) == reference.lower()) | (c.fleet_number == reference) | (c.plate == reference)
        )
        rows = await self._c.execute(statement.order_by(c.name, c.id).limit(20))
        return [_vehicle_from(row) for row in rows.mappings()]

    async def save(self, *, vehicle: Vehicle) -> None:
        await self._c.execute(
            update(t.vehicles).where(t.vehicles.c.id == vehicle.id).values(**_vehicle_values(vehicle))
        )

    async def delete(self, *, vehicle_id: VehicleId) -> bool:
        await self._c.execute(update(t.tokens).where(t.tokens.c.vehicle_id == vehicle_id).values(vehicle_id=None))
        result = await self._c.execute(t.vehicles.delete().where(t.vehicles.c.id == vehicle_id))
        return bool(result.rowcount)

    async def names(self, *, vehicle_ids: set[VehicleId]) -> dict[VehicleId, str]:
        c = t.vehicles.c
        rows = await self._c.execute(select(c.id, c.name).where(c.id.in_(sorted(vehicle_ids))))
        return {VehicleId(row.id): row.name for row in rows}

    async def list(self, *, search: str | None = None, limit: int | None = None, offset: int = 0) -> list[Vehicle]:
        # Last in the class: after it, `list` in this class body means the method.
        statement = _vehicles_matching(select(t.vehicles), search).order_by(t.vehicles.c.name, t.vehicles.c.id)
        rows = await self._c.execute(statement.limit(limit).offset(offset))
        return [_vehicle_from(row) for row in rows.mappings()]
