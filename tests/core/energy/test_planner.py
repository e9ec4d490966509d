"""Departure plans: every feasible departure met, the infeasible one flagged with its shortfall, cheap slots used."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from evscada.core.energy.allocation import Reason, Session, allocate
from evscada.core.energy.battery import ChargeCurve
from evscada.core.energy.grid import Current, Limit, LimitPeriod, Node, SiteGrid
from evscada.core.energy.planner import PricePeriod, Shortfall, Vehicle, overloads, plan, slots_of
from tests.core.energy.builders import AT, flat_site, sid

HOUR = timedelta(hours=1)
BUS_WH = 300_000.0


def bus(name: str, departs_in: float, *, soc: float = 20, target: float = 90, max_w: float = 150_000) -> Vehicle:
    return Vehicle(name, sid(name.upper()), soc, BUS_WH, max_w, AT + departs_in * HOUR, target)


def hourly(prices: list[float]) -> list[PricePeriod]:
    return [PricePeriod(AT + n * HOUR, AT + (n + 1) * HOUR, p) for n, p in enumerate(prices)]


def test_the_charging_curve_tapers_above_80_percent_and_its_closed_forms_agree() -> None:
    curve = ChargeCurve(BUS_WH, 150_000)
    assert curve.power_at(50) == 150_000 and curve.power_at(90) == pytest.approx(82_500)
    assert curve.soc_after(20, 150_000, 1.0) == pytest.approx(70)
    hours = curve.hours_to(20, 95)
    assert hours > (95 - 20) / 100 * BUS_WH / 150_000  # the taper costs time
    assert curve.soc_after(20, 150_000, hours) == pytest.approx(95)
    assert curve.soc_after(20, 150_000, hours / 2) == pytest.approx(20 + 50 * hours / 2)  # 50 % an hour


def test_slots_are_aligned_on_the_quarter_hour_and_carry_the_price_at_their_start() -> None:
    slots = slots_of(AT + timedelta(minutes=7), HOUR, hourly([0.3, 0.1]))
    assert [(s.start.minute, s.end.minute) for s in slots] == [(7, 15), (15, 30), (30, 45), (45, 0), (0, 7)]
    assert [s.price for s in slots] == [0.3, 0.3, 0.3, 0.3, 0.1]


def test_every_vehicle_reaches_its_target_when_the_site_allows_it() -> None:
    curve = (LimitPeriod(AT + 2 * HOUR, AT + 4 * HOUR, Limit(watts=80_000)),)
    site = SiteGrid(Node("site", Limit(watts=150_000), curve, stations=(sid("B1"), sid("B2"), sid("B3"))))
    buses = [bus("b1", 2), bus("b2", 4), bus("b3", 6)]  # 210 kWh each, 630 kWh; the site offers 780 by 6 h
    result = plan(site, buses, AT, 8 * HOUR)
    assert result.late == ()
    for v in result.vehicles:
        assert v.expected_soc_pct == pytest.approx(90, abs=0.01) and v.short_wh == 0
        assert sum(v.energy_wh) == pytest.approx(210_000, abs=1)
    assert overloads(site, result, buses) == []


def test_the_infeasible_vehicle_is_flagged_when_the_plan_is_made_with_its_shortfall() -> None:
    site = flat_site(watts=100_000)
    buses = [bus("early", 2), bus("late", 6)]  # by 2 h the site gives 200 kWh: early needs 210
    result = plan(site, buses, AT, 8 * HOUR)
    (early,) = result.late
    assert early.vehicle_id == "early" and early.limited_by is Shortfall.SITE
    assert early.short_wh == pytest.approx(10_000, abs=1)
    assert early.expected_soc_pct == pytest.approx(20 + 200_000 / BUS_WH * 100, abs=0.01)
    assert result.of("late").on_time


def test_a_vehicle_too_slow_for_its_own_departure_is_flagged_as_limited_by_itself() -> None:
    result = plan(flat_site(watts=500_000), [bus("slow", 2, max_w=50_000, target=80)], AT, 4 * HOUR)
    (slow,) = result.late
    assert slow.limited_by is Shortfall.VEHICLE and slow.short_wh == pytest.approx(80_000, abs=1)
    assert slow.expected_soc_pct == pytest.approx(20 + 100 / 3, abs=0.01)


def test_the_least_slack_plans_first_so_a_fast_vehicle_does_not_crowd_out_a_slow_one() -> None:
    quick = Vehicle("quick", sid("Q"), 50, 100_000, 100_000, AT + HOUR, 100, taper_from_pct=100)  # 50 kWh
    slow = Vehicle("slow", sid("S"), 0, 100_000, 50_000, AT + 2 * HOUR, 100, taper_from_pct=100)  # 100 kWh at 50 kW
    result = plan(flat_site(watts=100_000), [quick, slow], AT, 3 * HOUR)
    assert result.late == ()


def test_with_a_tariff_the_cheapest_slots_are_used() -> None:
    tariff = hourly([0.30, 0.30, 0.10, 0.30, 0.30])
    one = [bus("b1", 5, soc=20, target=70)]  # 150 kWh: one hour at 150 kW
    result = plan(flat_site(watts=200_000), one, AT, 5 * HOUR, tariff)
    assert [round(e / 1000) for e in result.vehicles[0].energy_wh] == [0] * 8 + [38] * 4 + [0] * 8
    assert result.cost == pytest.approx(15.0)
    unpriced = plan(flat_site(watts=200_000), one, AT, 5 * HOUR)
    assert [round(e / 1000) for e in unpriced.vehicles[0].energy_wh][:5] == [38, 38, 38, 38, 0]  # at once


def test_the_cheap_hours_are_used_even_when_the_taper_slows_the_last_of_them() -> None:
    tariff = hourly([0.30, 0.30, 0.10, 0.10])
    result = plan(flat_site(watts=150_000), [bus("b1", 4, soc=10, target=99)], AT, 4 * HOUR, tariff)
    b1 = result.vehicles[0]
    assert b1.on_time and b1.expected_soc_pct == pytest.approx(99, abs=0.01)
    dear = b1.energy_wh[:8]
    assert dear[0] == pytest.approx(37_500) and dear[-1] == 0  # what the cheap hours cannot give, as early as possible
    entering = 10 + sum(dear) / BUS_WH * 100
    assert ChargeCurve(BUS_WH, 150_000).soc_after(entering, 150_000, 2.0) == pytest.approx(99, abs=0.01)
    assert b1.power_w[8:] == (150_000,) * 8  # the cheap hours at full power, though the taper slows the last ones


def test_one_phase_vehicles_on_the_same_phase_are_planned_within_its_current() -> None:
    site = flat_site(amps=32)
    cars = [
        Vehicle(f"c{n}", sid(f"C{n}"), 20, 36_800, 7_360, AT + 8 * HOUR, 80, Current.AC, (1,)) for n in range(3)
    ]  # 22.08 kWh each, 3 h at 32 A on L1; the three need 9 h of L1, the plan has 8
    result = plan(site, cars, AT, 8 * HOUR)
    assert overloads(site, result, cars) == []
    assert len(result.late) == 1 and result.late[0].limited_by is Shortfall.SITE
    assert sum(v.short_wh for v in result.late) == pytest.approx(7_360, abs=1)


def test_the_plan_caps_the_session_through_the_allocator() -> None:
    tariff = hourly([0.30, 0.10, 0.30, 0.30])
    buses = [bus("b1", 4, soc=20, target=70)]
    result = plan(flat_site(watts=200_000), buses, AT, 4 * HOUR, tariff)
    session = Session("b1", sid("B1"), 150_000, Current.DC)
    now, later = AT, AT + HOUR
    waiting = allocate(flat_site(watts=200_000), [replace(session, planned_w=result.caps_at(now)["b1"])], now)
    charging = allocate(flat_site(watts=200_000), [replace(session, planned_w=result.caps_at(later)["b1"])], later)
    assert (waiting[0].watts, waiting[0].reason) == (0.0, Reason.DEPARTURE_PLAN)
    assert (charging[0].watts, charging[0].reason) == (150_000.0, Reason.DEPARTURE_PLAN)


def test_a_lower_curve_later_shows_up_as_an_overload_of_the_old_plan() -> None:
    buses = [bus("b1", 4)]
    before = flat_site(watts=150_000)
    result = plan(before, buses, AT, 4 * HOUR)
    curtailed = SiteGrid(Node("site", Limit(watts=150_000), (LimitPeriod(AT, AT + HOUR, Limit(watts=50_000)),)))
    assert [(s.start, node) for s, node in overloads(curtailed, result, buses)][:1] == [(AT, "site")]
