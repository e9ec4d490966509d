"""One tick of charging, without a socket: what the station, its limits and the vehicle allow, and what it adds to."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from evscada.simulator.charging_limits import Cap
from evscada.simulator.model import ac_station, dc_station
from evscada.simulator.physics import SUSPENDED_EV, SUSPENDED_EVSE, Battery, charge, charging_state, flow
from evscada.simulator.vehicles import EvSpec

CAR = EvSpec("Test car", 60e3, ac_max_w=11e3, ac_phases=3, dc_max_w=120e3)
ONE_PHASE_CAR = EvSpec("One-phase car", 40e3, ac_max_w=7.4e3, ac_phases=1, dc_max_w=50e3)
AC_22 = ac_station("S", "1.6", phases=3, amps=32)
DC_150 = dc_station("S", "1.6", kw=150)


def test_the_charging_curve_is_flat_to_80_percent_then_tapers_to_5_percent_at_full() -> None:
    assert CAR.accepts_w(50) == CAR.accepts_w(80) == 120e3
    assert CAR.accepts_w(90) == 120e3 * 0.525
    assert round(CAR.accepts_w(100)) == 6_000


def test_a_battery_s_voltage_rises_with_its_charge() -> None:
    eight_hundred = EvSpec("800 V car", 80e3, dc_volts=800.0)
    assert eight_hundred.battery_volts(0) == 736.0 and eight_hundred.battery_volts(100) == 848.0


def test_the_stations_current_and_the_cars_phases_bound_ac_power() -> None:
    eleven = ac_station("S", "1.6", phases=3, amps=16)
    three_phase = flow(eleven, Battery(CAR, 30), Cap())
    # About 11 kW on three phases at the grid's voltage of the moment (230 V with a little noise): the car's charger
    # draws at most 15.94 A a phase (11 kW at 230 V), the station gives at most its 11,040 W (16 A at 230 V); the
    # current is stated to 0.01 A.
    volts = three_phase.voltage_v
    assert three_phase.phases == 3 and 215 <= volts <= 245, three_phase
    expected = min(eleven.max_power_w, 3 * volts * 15.94)
    assert abs(three_phase.power_w - expected) <= 3 * volts * 0.01, (three_phase, expected)
    assert abs(three_phase.current_a - three_phase.power_w / 3 / three_phase.voltage_v) <= 0.01, three_phase
    assert three_phase.current_a <= 16.0
    one_phase = flow(eleven, Battery(ONE_PHASE_CAR, 30), Cap())
    assert one_phase.phases == 1 and one_phase.current_a == 16.0  # a 32 A car on a 16 A station
    single = flow(ac_station("S", "1.6", phases=1, amps=32), Battery(CAR, 30), Cap())
    assert single.phases == 1 and single.current_a == 15.94  # a three-phase 11 kW car's charger on one phase


def test_power_is_voltage_times_current_times_phases() -> None:
    for spec, ev in ((AC_22, CAR), (AC_22, ONE_PHASE_CAR), (DC_150, CAR)):
        now = flow(spec, Battery(ev, 40), Cap())
        assert abs(now.power_w - now.voltage_v * now.current_a * now.phases) <= 0.05


def test_a_limit_counts_in_watts_in_amperes_and_in_phases() -> None:
    assert flow(AC_22, Battery(CAR, 30), Cap(watts=4_000)).power_w <= 4_000
    assert flow(AC_22, Battery(CAR, 30), Cap(amps=6)).current_a == 6.0
    one = flow(AC_22, Battery(CAR, 30), Cap(amps=10, phases=1))
    assert one.phases == 1 and one.current_a == 10.0
    dc = flow(DC_150, Battery(CAR, 30), Cap(amps=100))
    assert dc.current_a == 100.0 and dc.power_w == round(dc.voltage_v * 100, 1)  # at the battery's voltage


def test_a_limit_of_zero_holds_the_charge_and_a_full_vehicle_takes_nothing() -> None:
    held = Cap(watts=0)
    assert charging_state(held, flow(DC_150, Battery(CAR, 30), held)) == SUSPENDED_EVSE
    full = Battery(CAR, 100)
    assert charging_state(Cap(), flow(DC_150, full, Cap())) == SUSPENDED_EV


def test_the_last_tick_to_the_target_brings_exactly_what_is_missing() -> None:
    compact = EvSpec("Compact", 40e3, dc_max_w=100e3, target_soc=90.0)
    battery = Battery(compact, 85.0)
    now, energy = charge(DC_150, battery, Cap(), seconds=3600.0)  # an hour at 100 kW would be 100 kWh
    assert abs(energy - 2_000.0) <= 1.0 and abs(battery.soc - 90.0) < 0.01 and battery.full
    assert abs(energy - now.power_w) <= 0.05  # an hour at the power reported
    assert charge(DC_150, battery, Cap(), seconds=60.0) == (flow(DC_150, battery, Cap()), 0.0)


def test_a_fleet_vehicle_leaves_at_its_next_departure_in_its_time_zone() -> None:
    bus = EvSpec("Bus", 350e3, departure=time(5, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    evening = datetime(2026, 7, 1, 18, 0, tzinfo=UTC)
    assert bus.next_departure(evening) == datetime(2026, 7, 2, 3, 0, tzinfo=UTC)  # 05:00 summer time
    early = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    assert bus.next_departure(early) == datetime(2026, 1, 10, 4, 0, tzinfo=UTC)  # 05:00 winter time, today
    assert CAR.next_departure(evening) is None
