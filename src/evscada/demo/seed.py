"""The demo's data, written through the core's public services so the same rules apply as for an operator."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from evscada.core.access.users import Role
from evscada.core.energy.grid import Limit
from evscada.core.errors import StationExists, UserExists
from evscada.core.model import Site, StationId, Supply, Token
from evscada.core.services import Core
from evscada.demo.world import DEMO_GROUP, DemoStation, DemoVehicle

DEMO_USER = "demo"
DEMO_PASSWORD = "evscada-demo"  # printed at start; the demo database is the demo's own
# The depot's two feeders below its connection: (name, limit in W, last bay on it; None: the rest).
DEPOT_FEEDERS = (("Feeder A", 500e3, 8), ("Feeder B", 450e3, None))


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
        await _supply(core, station, site)
        for car in station.vehicles:
            await core.authorization.save_token(token=Token(value=car.token, type="ISO14443", group_id=DEMO_GROUP))
            label = car.name if car.fleet_number else f"{car.name} {car.plate}"
            vehicle = vehicles.get(label)
            needs = _needs(car, core.vehicles.zone)
            if vehicle is None:
                vehicle = await core.vehicles.create(
                    name=label,
                    plate=car.plate,
                    fleet_number=car.fleet_number,
                    fleet=car.fleet,
                    battery_capacity_wh=car.battery_wh,
                    **needs,
                )
                vehicles[label] = vehicle
            elif all(v is None for v in (vehicle.departure_time, vehicle.target_soc_pct, vehicle.max_power_w)):
                # Seeded before vehicles had departures: given them once; an operator's later changes are kept.
                vehicle = await core.vehicles.update(vehicle=replace(vehicle, **needs))
                vehicles[label] = vehicle
            await core.vehicles.link_token(token_value=car.token, vehicle_id=vehicle.id)


def _needs(car: DemoVehicle, zone: ZoneInfo) -> dict[str, Any]:
    """A vehicle's timetable departure (buses), target SoC and the most power it takes, as the core keeps them."""
    return {
        "departure_time": None if car.departure is None else _on_clock(car.departure, zone),
        "target_soc_pct": car.ev.target_soc,
        "max_power_w": max(car.ev.dc_max_w, car.ev.ac_max_w),
    }


def _on_clock(departure: time, zone: ZoneInfo) -> time:
    """The timetable's time of day on the operator's clock: the same when the operator keeps the timetable's zone
    (operator_timezone = "Europe/Berlin"), otherwise converted at today's offsets."""
    if departure.tzinfo is None or departure.tzinfo == zone:
        return departure.replace(tzinfo=None)
    today = datetime.now(zone).date()
    return datetime.combine(today, departure).astimezone(zone).time()


async def _supply(core: Core, station: DemoStation, site: Site) -> None:
    """What the station delivers, and at the depot the feeder its bay hangs from (its feeders made on first use)."""
    spec = station.spec
    feeder_id = None
    if station.site.key == "DEPOT":
        bay = int(spec.station_id.rsplit("-", 1)[1])
        name, limit_w = next((n, w) for n, w, last in DEPOT_FEEDERS if last is None or bay <= last)
        feeders = {f.name: f for f in await core.layout.feeders(site_id=site.id)}
        feeder = feeders.get(name) or await core.layout.add_feeder(
            site_id=site.id, name=name, limit=Limit(watts=limit_w)
        )
        feeder_id = feeder.id
    ac = spec.supply.value == Supply.AC.value
    await core.layout.set_station_supply(
        station_id=StationId(spec.station_id),
        feeder_id=feeder_id,
        max_power_w=spec.max_power_w,
        supply=Supply(spec.supply.value),
        phases=spec.phases if ac else None,
    )


async def demo_key(core: Core) -> str:
    """The demo's admin login (password above) and a new API key each run (only hashes are stored)."""
    with contextlib.suppress(UserExists):
        await core.access.add_user(username=DEMO_USER, role=Role.ADMIN, password=DEMO_PASSWORD)
    return await core.access.create_api_key(username=DEMO_USER, name="demo")
