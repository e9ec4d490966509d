"""A site's layout as the tree load management computes on: the connection, its feeders, the stations under them."""

from __future__ import annotations

from datetime import timedelta

from evscada.core.energy.grid import Curtailment, Layout, Limit, LimitPeriod, Node
from evscada.core.energy.layout import Feeder, period_json, period_of, site_grid
from evscada.core.model import Site, SiteId, Station, StationId, Supply
from tests.core.energy.builders import AT

SITE = Site(SiteId(1), "Depot", grid_capacity_w=900e3)
NIGHT = LimitPeriod(AT, AT + timedelta(hours=6), Limit(watts=600e3))
CUT = Curtailment(Limit(amps=400), AT + timedelta(hours=1))


def station(sid: str, feeder_id: int | None = None, site_id: int | None = 1) -> Station:
    return Station(
        StationId(sid),
        site_id=None if site_id is None else SiteId(site_id),
        feeder_id=feeder_id,
        max_power_w=150e3,
        supply=Supply.DC,
    )


def by_id(node: Node) -> dict[str, Node]:
    return {n.id: n for n in node.walk()}


def test_the_root_is_the_connection_with_its_curve_and_curtailment_and_feeders_nest_below_it() -> None:
    feeders = [
        Feeder(10, SiteId(1), "Feeder A", limit=Limit(watts=500e3)),
        Feeder(11, SiteId(1), "Feeder B", limit=Limit(watts=450e3), curve=(NIGHT,)),
        Feeder(12, SiteId(1), "Transformer B1", parent_id=11, limit=Limit(amps=250)),
    ]
    stations = [station("BAY-1", 10), station("BAY-2", 10), station("BAY-9", 12), station("OFFICE")]
    grid = site_grid(SITE, stations, feeders, curve=(NIGHT,), curtailment=CUT)

    root = grid.root
    assert (root.id, root.limit, root.curve, root.curtailment) == ("site-1", Limit(watts=900e3), (NIGHT,), CUT)
    assert root.stations == ("OFFICE",)  # no feeder: straight from the connection
    assert [c.id for c in root.children] == ["feeder-10", "feeder-11"]
    nodes = by_id(root)
    assert nodes["feeder-10"].limit == Limit(watts=500e3) and nodes["feeder-10"].stations == ("BAY-1", "BAY-2")
    assert nodes["feeder-11"].curve == (NIGHT,) and nodes["feeder-11"].stations == ()
    assert [c.id for c in nodes["feeder-11"].children] == ["feeder-12"]
    assert nodes["feeder-12"].limit == Limit(amps=250) and nodes["feeder-12"].stations == ("BAY-9",)
    assert nodes["feeder-11"].limit_at(AT) == Limit(watts=450e3)  # its own 450 kW is tighter than its curve

    layout = Layout(grid)  # what the allocator numbers: a station draws through every node above it
    path = [layout.nodes[i].id for i in layout.path(StationId("BAY-9"))]
    assert path == ["site-1", "feeder-11", "feeder-12"]


def test_without_feeders_every_station_hangs_from_the_connection() -> None:
    grid = site_grid(Site(SiteId(1), "Garage"), [station("A"), station("B")], [])
    assert grid.root.limit == Limit() and grid.root.curve == () and grid.root.curtailment is None
    assert grid.root.children == () and grid.root.stations == ("A", "B")


def test_another_sites_feeders_and_stations_and_a_broken_layout_never_fail_it() -> None:
    feeders = [
        Feeder(10, SiteId(1), "A", limit=Limit(watts=1)),
        Feeder(20, SiteId(2), "Elsewhere", limit=Limit(watts=1)),
        Feeder(30, SiteId(1), "Loop 1", parent_id=31, limit=Limit(watts=1)),
        Feeder(31, SiteId(1), "Loop 2", parent_id=30, limit=Limit(watts=1)),
        Feeder(32, SiteId(1), "Orphan", parent_id=99, limit=Limit(watts=1)),
    ]
    stations = [station("MOVED", 20), station("OTHER-SITE", 10, site_id=2), station("GONE", 77), station("OK", 10)]
    root = site_grid(SITE, stations, feeders).root
    nodes = by_id(root)
    assert "feeder-20" not in nodes and "OTHER-SITE" not in [s for n in root.walk() for s in n.stations]
    assert root.stations == ("MOVED", "GONE")  # their feeder is not this site's: from the connection
    assert nodes["feeder-10"].stations == ("OK",)
    assert {c.id for c in root.children} == {"feeder-10", "feeder-30", "feeder-31", "feeder-32"}  # loop cut at root
    assert len(list(root.walk())) == 5  # every feeder once


def test_a_curve_period_keeps_its_times_and_limits_through_json() -> None:
    open_ended = LimitPeriod(AT, None, Limit(amps=100, watts=None))
    for period in (NIGHT, open_ended):
        assert period_of(period_json(period)) == period
