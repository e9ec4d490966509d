"""A node's effective limit: the tightest of its static limit, its load curve and a curtailment."""

from __future__ import annotations

from datetime import timedelta

from evscada.core.energy.grid import Curtailment, Limit, LimitPeriod, Node, SiteGrid
from tests.core.energy.builders import AT

HOUR = timedelta(hours=1)
NIGHT = LimitPeriod(AT + HOUR, AT + 3 * HOUR, Limit(watts=50_000))


def test_the_effective_limit_is_the_tightest_that_applies_at_the_time() -> None:
    node = Node("site", Limit(amps=200, watts=120_000), curve=(NIGHT,))
    assert node.limit_at(AT) == Limit(200, 120_000)
    assert node.limit_at(AT + HOUR) == Limit(200, 50_000)  # a period applies from its start ...
    assert node.limit_at(AT + 3 * HOUR) == Limit(200, 120_000)  # ... until, not including, its end


def test_a_curtailment_applies_until_its_time_in_a_or_w() -> None:
    node = Node("site", Limit(watts=120_000), curve=(NIGHT,), curtailment=Curtailment(Limit(amps=32), AT + 2 * HOUR))
    assert node.limit_at(AT) == Limit(32, 120_000)
    assert node.limit_at(AT + HOUR) == Limit(32, 50_000)
    assert node.limit_at(AT + 2 * HOUR) == Limit(None, 50_000)


def test_over_an_interval_a_period_starting_inside_it_counts() -> None:
    node = Node("site", Limit(watts=120_000), curve=(NIGHT,))
    assert node.limit_over(AT + HOUR / 2, AT + HOUR + timedelta(minutes=1)) == Limit(watts=50_000)
    assert node.limit_over(AT, AT + HOUR) == Limit(watts=120_000)  # ends as the period starts


def test_the_lowest_limit_from_now_on_counts_future_periods_but_not_ended_ones() -> None:
    ended = LimitPeriod(AT - 2 * HOUR, AT, Limit(watts=10_000))
    node = Node("site", Limit(watts=120_000), curve=(ended, NIGHT))
    assert node.lowest_from(AT) == Limit(watts=50_000)
    assert node.lowest_from(AT + 3 * HOUR) == Limit(watts=120_000)


def test_with_limits_replaces_every_node_limit_and_drops_curves() -> None:
    feeder = Node("f1", Limit(amps=63), curve=(NIGHT,))
    site = SiteGrid(Node("site", Limit(amps=100), children=(feeder,)))
    fixed = site.with_limits(lambda node: node.lowest_from(AT))
    assert [(n.id, n.limit, n.curve) for n in fixed.root.walk()] == [
        ("site", Limit(amps=100), ()),
        ("f1", Limit(63, 50_000), ()),
    ]
