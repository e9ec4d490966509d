"""The demo's data, written through the core's public services so the same rules apply as for an operator."""

from __future__ import annotations

import contextlib

from evscada.core.access.users import Role
from evscada.core.errors import StationExists, UserExists
from evscada.core.model import StationId, Token
from evscada.core.services import Core
from evscada.demo.world import DEMO_GROUP, DemoStation

DEMO_USER = "demo"
DEMO_PASSWORD = "evscada-demo"  # printed at start; the demo database is the demo's own


async def seed(core: Core, world: list[DemoStation]) -> None:
    """Sites, stations placed on them, vehicles and their cards; what exists from an earlier run is kept."""
    sites = {site.name: site for site in await core.sites.list()}
    vehicles = {vehicle.name: vehicle for vehicle in await core.vehicles.list()}
    for station in world:
        site = sites.get(station.site.name)
        if site is None:
            site = await core.sites.create(
                name=station.site.name,
                address=station.site.address,
                latitude=station.site.latitude,
                longitude=station.site.longitude,
                grid_capacity_w=station.site.grid_capacity_w,
            )
            sites[site.name] = site
        station_id = StationId(station.spec.station_id)
        with contextlib.suppress(StationExists):
            await core.stations.register(station_id=station_id)
        await core.sites.place_station(
            station_id=station_id,
            name=station.name,
            site_id=site.id,
            latitude=station.latitude,
            longitude=station.longitude,
        )
        for car in station.vehicles:
            await core.authorization.save_token(token=Token(value=car.token, type="ISO14443", group_id=DEMO_GROUP))
            label = car.name if car.fleet_number else f"{car.name} {car.plate}"
            vehicle = vehicles.get(label)
            if vehicle is None:
                vehicle = await core.vehicles.create(
                    name=label,
                    plate=car.plate,
                    fleet_number=car.fleet_number,
                    fleet=car.fleet,
                    battery_capacity_wh=car.battery_wh,
                )
                vehicles[label] = vehicle
            await core.vehicles.link_token(token_value=car.token, vehicle_id=vehicle.id)


async def demo_key(core: Core) -> str:
    """The demo's admin login (password above) and a new API key each run (only hashes are stored)."""
    with contextlib.suppress(UserExists):
        await core.access.add_user(username=DEMO_USER, role=Role.ADMIN, password=DEMO_PASSWORD)
    return await core.access.create_api_key(username=DEMO_USER, name="demo")
