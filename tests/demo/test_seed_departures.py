"""The demo seeds its buses with the timetable's departures and what they need, for departure-aware charging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, time

import pytest

from evscada.demo.seed import seed
from evscada.demo.world import LOCAL, demo_stations
from tests.conftest import start_csms, test_settings
from tests.support import Csms


@pytest.fixture
async def depot(sqlite_url: str) -> AsyncIterator[Csms]:
    async for csms in start_csms(test_settings(sqlite_url, operator_timezone=LOCAL.key)):
        yield csms


async def test_buses_get_their_timetable_departure_target_and_power_and_keep_an_operators_change(depot: Csms) -> None:
    world = demo_stations(6)
    timetable = {v.name: v for s in world for v in s.vehicles if v.fleet_number}
    vehicles = depot.app.core.vehicles

    await seed(depot.app.core, world)

    buses = [v for v in await vehicles.list() if v.name in timetable]
    assert len(buses) == len(timetable) > 1
    for bus in buses:
        demo = timetable[bus.name]
        assert demo.departure is not None
        assert bus.departure_time == demo.departure.replace(tzinfo=None)  # the demo's clock is the operator's
        assert (bus.target_soc_pct, bus.max_power_w, bus.battery_capacity_wh) == (95.0, 150e3, demo.battery_wh)
        leaves = vehicles.next_departure_at(bus)
        assert leaves is not None and leaves.astimezone(LOCAL).time() == bus.departure_time
    cars = [v for v in await vehicles.list() if v.name not in timetable]
    assert cars and all(c.departure_time is None and c.target_soc_pct is not None for c in cars)

    # An operator moves a bus; the demo's next start keeps that.
    moved = replace(buses[0], departure_time=time(6, 0), priority=7)
    await vehicles.update(vehicle=moved)
    await seed(depot.app.core, world)
    assert await vehicles.get(vehicle_id=moved.id) == moved


async def test_an_operator_on_another_clock_sees_the_timetable_converted(sqlite_url: str) -> None:
    world = demo_stations(3)
    async for csms in start_csms(test_settings(sqlite_url)):  # operator_timezone UTC
        await seed(csms.app.core, world)
        demo = next(v for s in world for v in s.vehicles if v.departure is not None)
        (bus,) = [v for v in await csms.app.core.vehicles.list() if v.name == demo.name]
        assert demo.departure is not None and bus.departure_time is not None
        today = datetime.now(UTC).date()
        expected = datetime.combine(today, demo.departure).astimezone(UTC).time()
        assert bus.departure_time == expected != demo.departure.replace(tzinfo=None)
