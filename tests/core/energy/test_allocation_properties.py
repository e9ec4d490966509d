"""Properties of allocate over many random sites and sessions (fixed seed): limits hold, nothing is wasted."""

from __future__ import annotations

import random

import pytest

from evscada.core.energy.allocation import RESERVES, Allocation, Control, Reason, Session, allocate
from evscada.core.energy.grid import Current, Node, SiteGrid
from tests.core.energy.builders import AT, random_session, random_site, stations_under, usage_under

CASES = 300
ROUNDING_A = 0.1  # AC allocations are rounded down to 0.1 A, DC ones to 1 W


def cases() -> list[tuple[SiteGrid, list[Session]]]:
    rng = random.Random(18)
    found = []
    for _ in range(CASES):
        stations = rng.randint(1, 30)
        site = random_site(rng, stations)
        found.append((site, [random_session(rng, n, stations) for n in range(rng.randint(1, 60))]))
    return found


CASES_ = cases()


def nodes_of(site: SiteGrid, station: str) -> list[Node]:
    """The nodes a station draws through: the root, and every node whose subtree names it."""
    return [n for n in site.root.walk() if n is site.root or station in stations_under(n)]


def loads(allocations: list[Allocation], voltage: float) -> list[tuple[str, float]]:
    """(resource, amount) each allocation puts on a node: phase currents L1..L3 in A, and W."""
    usage = usage_under(None, allocations, voltage)
    return [*[(f"L{p + 1}", usage.phase_amps[p]) for p in range(3)], ("W", usage.watts)]


def resources_of(a: Allocation) -> set[str]:
    return {f"L{p}" for p in (a.phases if a.amps is not None else (1, 2, 3))} | {"W"}


def capacity_of(node: Node, resource: str) -> float | None:
    limit = node.limit_at(AT)
    return limit.watts if resource == "W" else limit.amps


@pytest.mark.parametrize("case", range(CASES))
def test_no_node_is_ever_over_its_limit_unless_reserves_alone_take_it_there(case: int) -> None:
    site, sessions = CASES_[case]
    allocations = allocate(site, sessions, AT)
    for node in site.root.walk():
        under = [a for a in allocations if node is site.root or a.station_id in stations_under(node)]
        reserved = dict(loads([a for a in under if a.reason in RESERVES], site.voltage_v))
        for resource, used in loads(under, site.voltage_v):
            cap = capacity_of(node, resource)
            if cap is None:
                continue
            if reserved[resource] > cap:  # the uncontrolled draw alone: nobody else may use this resource
                assert all(a.watts == 0 for a in under if a.reason not in RESERVES and resource in resources_of(a))
            else:
                assert used <= cap + 1e-6, (node.id, resource, used, cap)


@pytest.mark.parametrize("case", range(CASES))
def test_each_session_gets_one_allocation_between_its_minimum_and_its_ceiling(case: int) -> None:
    site, sessions = CASES_[case]
    allocations = allocate(site, sessions, AT)
    assert [a.session_id for a in allocations] == [s.id for s in sessions]
    for s, a in zip(sessions, allocations, strict=True):
        if s.control is Control.OFFLINE:
            assert a.reason is Reason.OFFLINE_RESERVE
        elif s.control is Control.UNCONTROLLED:
            assert a.reason is Reason.UNCONTROLLED_RESERVE and a.watts == pytest.approx(s.max_w)
        elif a.reason is Reason.PAUSED or (s.planned_w is not None and s.planned_w <= 0):
            assert a.watts == 0
        else:
            minimum = 6 * len(s.phases) * s.voltage_v if s.current is Current.AC else 1000.0
            assert min(minimum, s.max_w) - 1e-6 <= a.watts <= s.max_w + 1e-6


@pytest.mark.parametrize("case", range(CASES))
def test_a_session_below_its_ceiling_is_held_back_by_a_full_node(case: int) -> None:
    site, sessions = CASES_[case]
    allocations = allocate(site, sessions, AT)
    shared = (Reason.EQUAL_SHARE, Reason.PRIORITY, Reason.MINIMUM, Reason.PAUSED)
    for a in (a for a in allocations if a.reason in shared):
        full = []
        for node in nodes_of(site, a.station_id):
            under = [b for b in allocations if node is site.root or b.station_id in stations_under(node)]
            slack_a = ROUNDING_A * len(under) + (6 if a.reason is Reason.PAUSED else 0)
            slack_w = (ROUNDING_A * 3 * site.voltage_v + 1) * len(under) + (
                6 * 3 * site.voltage_v + 1000 if a.reason is Reason.PAUSED else 0
            )
            for resource, used in loads(under, site.voltage_v):
                cap = capacity_of(node, resource)
                slack = slack_w if resource == "W" else slack_a
                if resource in resources_of(a) and cap is not None and used >= cap - slack:
                    full.append((node.id, resource))
        assert full, a


@pytest.mark.parametrize("case", range(CASES))
def test_a_session_pauses_only_after_every_lower_priority_one_alike(case: int) -> None:
    site, sessions = CASES_[case]
    allocations = allocate(site, sessions, AT)
    by_id = {s.id: s for s in sessions}

    def shape(s: Session) -> tuple[str, Current, tuple[int, ...]]:
        return s.station_id, s.current, tuple(sorted(s.phases))

    paused = [by_id[a.session_id] for a in allocations if a.reason is Reason.PAUSED]
    running = [by_id[a.session_id] for a in allocations if a.watts > 0 and a.reason not in RESERVES]
    for p in paused:
        assert not [r.id for r in running if shape(r) == shape(p) and r.priority < p.priority]


@pytest.mark.parametrize("case", range(0, CASES, 10))
def test_the_same_sessions_in_another_order_get_the_same_allocations(case: int) -> None:
    site, sessions = CASES_[case]
    shuffled = list(sessions)
    random.Random(case).shuffle(shuffled)
    assert sorted(allocate(site, sessions, AT), key=lambda a: a.session_id) == sorted(
        allocate(site, shuffled, AT), key=lambda a: a.session_id
    )
