"""Fail-safe limits keep a site inside its connection with every station at its fail-safe at once."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from evscada.core.energy.allocation import Allocation, Reason
from evscada.core.energy.failsafe import Charger, FailSafe, fail_safe_limits
from evscada.core.energy.grid import PHASES, Current, Curtailment, Limit, LimitPeriod, Node, SiteGrid
from tests.core.energy.builders import AT, flat_site, over_limits, random_site, sid

HOUR = timedelta(hours=1)


def ac_charger(
    name: str, max_a: float = 32, evses: int = 1, phases: tuple[int, ...] = PHASES, *, obeys: bool = True
) -> Charger:
    return Charger(sid(name), max_a * len(phases) * 230, evses, Current.AC, phases, obeys=obeys)


def as_allocations(chargers: list[Charger], limits: list[FailSafe]) -> list[Allocation]:
    """Every EVSE drawing its fail-safe limit at once."""
    found = []
    for c, f in zip(chargers, limits, strict=True):
        for n, watts in enumerate(f.evse_w):
            amps = f.evse_a[n] if f.evse_a is not None else None
            phases = c.phases if c.current is Current.AC else ()
            found.append(Allocation(f"{c.station_id}/{n}", c.station_id, watts, amps, phases, Reason.MINIMUM))
    return found


def test_alike_stations_get_the_connection_divided_by_their_number() -> None:
    chargers = [ac_charger(f"S{n}") for n in range(4)]
    limits = fail_safe_limits(flat_site(amps=63), chargers, AT)
    assert [f.evse_a for f in limits] == [(15.7,)] * 4
    assert [f.station_a for f in limits] == [15.7] * 4


def test_below_the_minimum_as_many_as_fit_get_it_and_the_others_pause() -> None:
    chargers = [ac_charger(f"S{n}") for n in range(6)]
    limits = fail_safe_limits(flat_site(amps=32), chargers, AT)  # 32 / 6 = 5.3 A: under 6 A
    assert sorted(f.station_a or 0 for f in limits) == [0.0, 6.4, 6.4, 6.4, 6.4, 6.4]


def test_each_feeder_divides_its_own_limit_among_the_stations_under_it() -> None:
    feeder = Node("feeder", Limit(amps=20), stations=(sid("F1"), sid("F2")))
    site = SiteGrid(Node("site", Limit(amps=100), children=(feeder,)))
    chargers = [ac_charger("F1"), ac_charger("F2"), ac_charger("R1"), ac_charger("R2")]
    assert [f.station_a for f in fail_safe_limits(site, chargers, AT)] == [10.0, 10.0, 32.0, 32.0]


def test_a_station_with_two_evses_gets_a_tx_default_each_and_their_sum_as_its_maximum() -> None:
    limits = fail_safe_limits(flat_site(amps=48), [ac_charger("D", evses=2), ac_charger("S")], AT)
    assert limits[0].evse_a == (16.0, 16.0) and limits[0].station_a == 32.0
    assert limits[1].evse_a == (16.0,)


def test_the_lowest_limit_to_come_applies_not_the_one_in_force_now() -> None:
    evening = LimitPeriod(AT + 2 * HOUR, AT + 4 * HOUR, Limit(amps=16))
    site = SiteGrid(Node("site", Limit(amps=64), (evening,), Curtailment(Limit(amps=40), AT + HOUR)))
    chargers = [ac_charger("A"), ac_charger("B")]
    assert [f.station_a for f in fail_safe_limits(site, chargers, AT)] == [8.0, 8.0]
    assert [f.station_a for f in fail_safe_limits(site, chargers, AT + 5 * HOUR)] == [32.0, 32.0]


def test_a_station_that_does_not_obey_keeps_its_maximum_reserved() -> None:
    chargers = [ac_charger("R", max_a=16, obeys=False), ac_charger("A"), ac_charger("B")]
    limits = fail_safe_limits(flat_site(amps=32), chargers, AT)
    assert limits[0].reserved and limits[0].station_a == 16.0
    assert [f.station_a for f in limits[1:]] == [8.0, 8.0]


def test_dc_stations_get_watts_and_count_on_all_three_phases() -> None:
    chargers = [Charger(sid("D1"), 150_000, current=Current.DC), Charger(sid("D2"), 150_000, current=Current.DC)]
    limits = fail_safe_limits(flat_site(watts=100_000), chargers, AT)
    assert [(f.station_w, f.station_a) for f in limits] == [(50_000.0, None), (50_000.0, None)]


@pytest.mark.parametrize("seed", range(100))
def test_the_sum_of_fail_safe_limits_stays_within_every_node_for_as_long_as_anything_is_known(seed: int) -> None:
    rng = random.Random(seed)
    stations = rng.randint(1, 40)
    site = random_site(rng, stations)
    chargers = []
    for n in range(stations):
        if rng.random() < 0.3:
            chargers.append(Charger(sid(f"S{n}"), rng.uniform(20_000, 150_000), rng.randint(1, 2), Current.DC))
        else:
            phases = rng.choice([(1,), (2,), (3,), (1, 2, 3)])
            chargers.append(ac_charger(f"S{n}", rng.choice([16, 32]), rng.randint(1, 2), phases))
    limits = fail_safe_limits(site, chargers, AT)
    drawn = as_allocations(chargers, limits)
    for later in (AT, AT + HOUR / 2, AT + 5 * HOUR):  # the random curves change within the hour around AT
        assert over_limits(site, drawn, later) == []
    for c, f in zip(chargers, limits, strict=True):
        assert f.station_w == pytest.approx(sum(f.evse_w))
        for amps in f.evse_a or ():
            assert amps == 0 or 6 <= amps <= c.max_w / (len(c.phases) * 230) + 1e-9
