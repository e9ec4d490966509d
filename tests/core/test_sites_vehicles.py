"""Sites, station placement, vehicles and their tokens, through the core services on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from evscada.app import build_core
from evscada.bus.local import LocalBus
from evscada.core.errors import (
    InvalidArgument,
    SiteExists,
    UnknownSite,
    UnknownStation,
    UnknownToken,
    UnknownVehicle,
    VehicleExists,
)
from evscada.core.model import SiteId, StationId, Token, VehicleId
from evscada.core.services import Core
from evscada.storage.db import Database
from evscada.storage.store import SqlStore
from tests.conftest import _truncate, test_settings


@pytest.fixture
async def core(database_url: str) -> AsyncIterator[Core]:
    database = Database(database_url)
    await database.migrate()
    if database.engine.dialect.name == "postgresql":
        await _truncate(database)
    built = build_core(test_settings(database_url), SqlStore(database), LocalBus())
    await built.stations.register(station_id=StationId("CP-1"))
    yield built
    await database.close()


async def test_a_station_placed_on_a_site_keeps_its_location(core: Core) -> None:
    depot = await core.sites.create(name="Bus depot", address="Depotstr. 1", latitude=52.5, longitude=13.4)
    await core.sites.place_station(
        station_id=StationId("CP-1"), name="Bay 1", site_id=depot.id, latitude=52.51, longitude=13.41
    )
    station = (await core.queries.station(station_id=StationId("CP-1"))).station
    assert (station.name, station.site_id, station.latitude, station.longitude) == ("Bay 1", depot.id, 52.51, 13.41)
    assert [s.name for s in await core.sites.list()] == ["Bus depot"]


async def test_deleting_a_site_keeps_its_stations(core: Core) -> None:
    depot = await core.sites.create(name="Depot")
    await core.sites.place_station(
        station_id=StationId("CP-1"), name=None, site_id=depot.id, latitude=None, longitude=None
    )
    await core.sites.delete(site_id=depot.id)
    station = (await core.queries.station(station_id=StationId("CP-1"))).station
    assert station.site_id is None
    with pytest.raises(UnknownSite):
        await core.sites.get(site_id=depot.id)


async def test_bad_site_input_is_refused_with_the_reason(core: Core) -> None:
    await core.sites.create(name="Garage")
    with pytest.raises(SiteExists):
        await core.sites.create(name="Garage")
    with pytest.raises(InvalidArgument, match="latitude"):
        await core.sites.create(name="Nowhere", latitude=91.0, longitude=0.0)
    with pytest.raises(InvalidArgument, match="both"):
        await core.sites.create(name="Half", latitude=10.0)
    with pytest.raises(UnknownSite):
        await core.sites.place_station(
            station_id=StationId("CP-1"), name=None, site_id=SiteId(999), latitude=None, longitude=None
        )
    with pytest.raises(UnknownStation):
        await core.sites.place_station(
            station_id=StationId("NOPE"), name=None, site_id=None, latitude=None, longitude=None
        )


async def test_a_token_linked_to_a_vehicle_says_so_until_the_vehicle_goes(core: Core) -> None:
    bus = await core.vehicles.create(name="Bus 4711", fleet_number="4711", fleet="City", battery_capacity_wh=350_000)
    await core.authorization.save_token(token=Token(value="BUS-4711"))
    await core.vehicles.link_token(token_value="BUS-4711", vehicle_id=bus.id)
    token = await core.authorization.token(value="BUS-4711")
    assert token is not None and token.vehicle_id == bus.id
    await core.vehicles.delete(vehicle_id=bus.id)
    token = await core.authorization.token(value="BUS-4711")
    assert token is not None and token.vehicle_id is None


async def test_bad_vehicle_input_is_refused_with_the_reason(core: Core) -> None:
    await core.vehicles.create(name="Car 1")
    with pytest.raises(VehicleExists):
        await core.vehicles.create(name="Car 1")
    with pytest.raises(InvalidArgument, match="battery"):
        await core.vehicles.create(name="Car 2", battery_capacity_wh=-5)
    with pytest.raises(UnknownToken):
        await core.vehicles.link_token(token_value="NOPE", vehicle_id=None)
    await core.authorization.save_token(token=Token(value="T"))
    with pytest.raises(UnknownVehicle):
        await core.vehicles.link_token(token_value="T", vehicle_id=VehicleId(999))
