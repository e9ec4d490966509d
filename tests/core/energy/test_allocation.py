"""Sharing a site among sessions: minimum or pause, priorities, phases, tapering, reserves, and the reason why."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from evscada.core.energy.allocation import Control, Reason, Session, allocate, draws_well_below
from evscada.core.energy.grid import Current, Curtailment, Limit, LimitPeriod, Node, SiteGrid
from tests.core.energy.builders import AT, flat_site, over_limits, sid

HOUR = timedelta(hours=1)


def ac(name: str, *, max_a: float = 32, phases: tuple[int, ...] = (1, 2, 3), **others: Any) -> Session:
    return Session.ac(name, sid(name.upper()), max_a=max_a, phases=phases, **others)


def dc(name: str, max_w: float = 150_000, **others: Any) -> Session:
    return replace(Session(name, sid(name.upper()), max_w, Current.DC), **others)


def by_id(site: SiteGrid, sessions: list[Session], at: datetime = AT) -> dict[str, tuple[float | None, float, Reason]]:
    """Each session's (A, W, reason), after checking that together they fit every node."""
    allocations = allocate(site, sessions, at)
    assert over_limits(site, allocations, at) == []
    return {a.session_id: (a.amps, a.watts, a.reason) for a in allocations}


def test_sessions_share_equally_and_say_so() -> None:
    got = by_id(flat_site(amps=32), [ac("a"), ac("b")])
    assert got == {"a": (16.0, 16 * 690, Reason.EQUAL_SHARE), "b": (16.0, 16 * 690, Reason.EQUAL_SHARE)}


def test_a_session_capped_by_its_own_maximum_leaves_the_rest_to_the_others() -> None:
    got = by_id(flat_site(amps=32), [ac("a", max_a=10), ac("b"), ac("c")])
    assert got["a"][0::2] == (10.0, Reason.CAPPED)
    assert got["b"][0::2] == got["c"][0::2] == (11.0, Reason.EQUAL_SHARE)


def test_when_the_minimum_cannot_be_met_for_all_the_lowest_priority_pauses() -> None:
    sessions = [ac(f"s{n}", priority=2 if n < 2 else 0, started_at=AT - timedelta(minutes=n)) for n in range(6)]
    got = by_id(flat_site(amps=32), sessions)  # room for five at 6 A, not six
    paused = [s for s, (_, _, reason) in got.items() if reason is Reason.PAUSED]
    assert paused == ["s2"]  # lowest priority, and the latest to arrive of those
    assert got["s2"][:2] == (0.0, 0.0)
    assert all(amps is not None and amps >= 6 for s, (amps, _, _) in got.items() if s != "s2")


def test_no_session_is_starved_below_the_minimum_nor_all_paused() -> None:
    got = by_id(flat_site(amps=20), [ac(f"s{n}") for n in range(5)])
    amps = sorted(a or 0.0 for a, _, _ in got.values())
    assert amps == [0.0, 0.0, 6.6, 6.6, 6.6]


def test_a_higher_priority_gets_more_and_the_reason_says_priority() -> None:
    got = by_id(flat_site(amps=32), [ac("bus", priority=5), ac("car1"), ac("car2")])
    assert got["bus"][0::2] == (20.0, Reason.PRIORITY)
    assert got["car1"][0::2] == got["car2"][0::2] == (6.0, Reason.MINIMUM)


def test_one_phase_vehicles_use_one_phase_of_a_three_phase_site() -> None:
    sessions = [ac("l1", phases=(1,)), ac("l2", phases=(2,)), ac("l3", phases=(3,))]
    got = by_id(flat_site(amps=32), sessions)
    assert {s: a for s, (a, _, _) in got.items()} == {"l1": 32.0, "l2": 32.0, "l3": 32.0}


def test_one_phase_vehicles_on_the_same_phase_share_it_with_a_three_phase_one() -> None:
    sessions = [ac("a", phases=(1,)), ac("b", phases=(1,)), ac("c")]
    allocations = allocate(flat_site(amps=32), sessions, AT)
    assert [a.amps for a in allocations] == [10.6, 10.6, 10.6]  # L1 is full; L2 and L3 have room nobody can use
    assert over_limits(flat_site(amps=32), allocations) == []


def test_a_power_limit_counts_a_one_phase_vehicle_at_a_third_of_a_three_phase_one() -> None:
    got = by_id(flat_site(watts=14_720), [ac("one", phases=(1,)), ac("three")])
    assert got["one"][:2] == (16.0, 3680.0) and got["three"][:2] == (16.0, 11_040.0)


def test_dc_sessions_share_in_watts_and_against_ac_as_a_three_phase_load() -> None:
    got = by_id(flat_site(watts=100_000), [dc("d1"), dc("d2"), dc("d3", max_w=20_000)])
    assert got["d3"][1:] == (20_000.0, Reason.CAPPED)
    assert got["d1"][1:] == got["d2"][1:] == (40_000.0, Reason.EQUAL_SHARE)
    mixed = by_id(flat_site(amps=20), [dc("d"), ac("a")])
    assert mixed["a"][0] == 10.0 and mixed["d"][1] == 10 * 690.0


def test_every_node_of_the_hierarchy_is_respected() -> None:
    feeder = Node("feeder", Limit(watts=20_000), stations=(sid("F1"), sid("F2")))
    site = SiteGrid(Node("site", Limit(watts=100_000), children=(feeder,)))
    got = by_id(site, [dc("f1"), dc("f2"), dc("r1"), dc("r2")])
    assert {s: w for s, (_, w, _) in got.items()} == {"f1": 10_000, "f2": 10_000, "r1": 40_000, "r2": 40_000}


def test_the_load_curve_and_a_curtailment_apply_at_their_time() -> None:
    curve = (LimitPeriod(AT + HOUR, AT + 2 * HOUR, Limit(watts=30_000)),)
    site = SiteGrid(Node("site", Limit(watts=100_000), curve, Curtailment(Limit(watts=10_000), AT + HOUR / 2)))
    assert by_id(site, [dc("d1"), dc("d2")])["d1"][1] == 5_000
    assert by_id(site, [dc("d1"), dc("d2")], at=AT + HOUR / 2)["d1"][1] == 50_000
    assert by_id(site, [dc("d1"), dc("d2")], at=AT + HOUR)["d1"][1] == 15_000


def test_a_tapering_vehicle_keeps_its_draw_and_a_margin_and_the_spare_goes_to_others() -> None:
    site = flat_site(amps=32)
    steady = by_id(site, [ac("full"), ac("taper", draw_w=2 * 690, below_for=timedelta(minutes=5))])
    assert steady["taper"][0::2] == (6.0, Reason.TAPERING)  # 2 A + 10 % + 1 A is under the minimum: kept at 6 A
    assert steady["full"][0] == 26.0
    more = by_id(site, [ac("full"), ac("taper", draw_w=10 * 690, below_for=timedelta(minutes=5))])
    assert more["taper"][0] == 12.0 and more["full"][0] == 20.0  # 10 A + 1 A + 1 A
    brief = by_id(site, [ac("full"), ac("taper", draw_w=2 * 690, below_for=timedelta(seconds=30))])
    assert brief["taper"][0] == brief["full"][0] == 16.0  # not for long enough yet


def test_well_below_means_under_80_percent_of_the_allocation() -> None:
    assert draws_well_below(10_000, 7_900) and not draws_well_below(10_000, 8_000)


def test_an_offline_station_keeps_its_last_allocation_reserved() -> None:
    got = by_id(flat_site(amps=32), [ac("gone", control=Control.OFFLINE, last_w=10 * 690), ac("a"), ac("b")])
    assert got["gone"][0::2] == (10.0, Reason.OFFLINE_RESERVE)
    assert got["a"][0] == got["b"][0] == 11.0
    unknown = by_id(flat_site(amps=32), [ac("gone", max_a=16, control=Control.OFFLINE), ac("a")])
    assert unknown["gone"][0] == 16.0 and unknown["a"][0] == 16.0  # never allocated: its maximum is reserved


def test_a_station_that_does_not_obey_has_its_maximum_reserved() -> None:
    got = by_id(flat_site(amps=32), [ac("rogue", max_a=20, control=Control.UNCONTROLLED), ac("a"), ac("b")])
    assert got["rogue"][0::2] == (20.0, Reason.UNCONTROLLED_RESERVE)
    assert got["a"][0] == got["b"][0] == 6.0


def test_reserves_beyond_the_limit_pause_the_controlled_sessions() -> None:
    got = by_id_unchecked(flat_site(amps=16), [ac("rogue", control=Control.UNCONTROLLED), ac("a")])
    assert got["a"][0::2] == (0.0, Reason.PAUSED)


def test_a_departure_plan_caps_a_session_or_makes_it_wait() -> None:
    site = flat_site(watts=100_000)
    got = by_id(site, [dc("waits", planned_w=0.0), dc("planned", planned_w=70_000), dc("other")])
    assert got["waits"][1:] == (0.0, Reason.DEPARTURE_PLAN)
    assert got["planned"][1:] == (70_000.0, Reason.DEPARTURE_PLAN)  # planned sessions fill before the others
    assert got["other"][1:] == (30_000.0, Reason.EQUAL_SHARE)


def test_the_result_does_not_depend_on_the_order_of_the_sessions() -> None:
    sessions = [ac(f"s{n}", priority=n % 3, max_a=6 + n) for n in range(12)] + [dc(f"d{n}") for n in range(4)]
    site = flat_site(amps=63, watts=40_000)
    first = sorted(allocate(site, sessions, AT), key=lambda a: a.session_id)
    again = sorted(allocate(site, sessions[::-1], AT), key=lambda a: a.session_id)
    assert first == again


def by_id_unchecked(site: SiteGrid, sessions: list[Session]) -> dict[str, tuple[float | None, float, Reason]]:
    return {a.session_id: (a.amps, a.watts, a.reason) for a in allocate(site, sessions, AT)}
