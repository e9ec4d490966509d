"""The demo's invented world is physically plausible: real station ratings, real vehicles, a depot to plan."""

from __future__ import annotations

from evscada.demo.world import demo_stations
from evscada.simulator.model import Supply


def test_the_depot_connection_cannot_charge_every_bus_at_full_power_at_once() -> None:
    for count in (28, 60):
        depot = [s for s in demo_stations(count) if s.site.key == "DEPOT"]
        chargers = sum(s.spec.max_power_w * s.spec.connectors for s in depot)
        assert depot and 0 < depot[0].site.grid_capacity_w < chargers


def test_buses_have_big_batteries_dc_chargers_and_departures() -> None:
    depot = [s for s in demo_stations(28) if s.site.key == "DEPOT"]
    assert all(s.spec.supply is Supply.DC and s.spec.max_power_w == 150e3 for s in depot)
    buses = [v for s in depot for v in s.vehicles]
    assert all(300e3 <= bus.battery_wh <= 400e3 and bus.departure is not None for bus in buses)
    assert len({bus.departure for bus in buses}) > 10  # a timetable, not one moment
    assert all(s.spec.vehicles[v.token] == v.ev for s in depot for v in s.vehicles)  # the simulator knows them


def test_cars_have_40_to_100_kwh_and_ac_stations_their_real_ratings() -> None:
    world = demo_stations(28)
    cars = [v for s in world if s.site.key != "DEPOT" for v in s.vehicles]
    assert cars and all(40e3 <= car.battery_wh <= 100e3 for car in cars)
    assert any(car.ev.ac_phases == 1 for car in cars)
    ac = {(s.spec.phases, s.spec.max_current_a) for s in world if s.spec.supply is Supply.AC}
    assert ac == {(3, 32.0), (3, 16.0), (1, 32.0)}  # 22 kW, 11 kW and 7.4 kW
