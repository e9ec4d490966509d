"""Small builders for energy tests, and a check of node limits written apart from the code it checks."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from evscada.core.energy.allocation import Allocation, Control, Session
from evscada.core.energy.grid import Current, Limit, LimitPeriod, Node, SiteGrid
from evscada.core.model import StationId

AT = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
VOLTAGE = 230.0


def sid(name: str) -> StationId:
    return StationId(name)


def flat_site(*, amps: float | None = None, watts: float | None = None, stations: Iterable[str] = ()) -> SiteGrid:
    return SiteGrid(Node("site", Limit(amps, watts), stations=tuple(sid(s) for s in stations)))


@dataclass
class Usage:
    phase_amps: list[float]
    watts: float


def usage_under(stations: set[str] | None, allocations: Sequence[Allocation], voltage: float = VOLTAGE) -> Usage:
    """Per-phase current and power of the allocations of these stations (None: every station)."""
    usage = Usage([0.0, 0.0, 0.0], 0.0)
    for a in allocations:
        if stations is None or a.station_id in stations:
            usage.watts += a.watts
            if a.amps is not None:
                for p in a.phases:
                    usage.phase_amps[p - 1] += a.amps
            else:
                for p in range(3):
                    usage.phase_amps[p] += a.watts / (3 * voltage)
    return usage


def stations_under(node: Node) -> set[str]:
    found: set[str] = set(node.stations)
    for child in node.children:
        found |= stations_under(child)
    return found


def over_limits(
    site: SiteGrid,
    allocations: Sequence[Allocation],
    at: datetime = AT,
    limit_of: Callable[[Node], Limit] | None = None,
) -> list[str]:
    """Nodes whose limit (at `at` unless limit_of says) the allocations exceed, described; empty when all fit."""
    found = []
    for node in site.root.walk():
        limit = node.limit_at(at) if limit_of is None else limit_of(node)
        usage = usage_under(None if node is site.root else stations_under(node), allocations, site.voltage_v)
        if limit.amps is not None and max(usage.phase_amps) > limit.amps + 1e-6:
            found.append(f"{node.id}: {usage.phase_amps} A > {limit.amps} A")
        if limit.watts is not None and usage.watts > limit.watts + 1e-6:
            found.append(f"{node.id}: {usage.watts} W > {limit.watts} W")
    return found


def random_limit(rng: random.Random, scale: float) -> Limit:
    kind = rng.choice(["amps", "watts", "both", "none"])
    amps = round(rng.uniform(6, 120) * scale, 1) if kind in ("amps", "both") else None
    watts = round(rng.uniform(4_000, 250_000) * scale) if kind in ("watts", "both") else None
    return Limit(amps, watts)


def random_site(rng: random.Random, stations: int) -> SiteGrid:
    """A connection with up to two levels of feeders below it; some stations hang from the root."""
    names = [f"S{n}" for n in range(stations)]
    rng.shuffle(names)

    def node(name: str, depth: int, pool: list[str]) -> Node:
        children = []
        if depth < 2:
            for c in range(rng.randint(0, 3)):
                take = rng.randint(0, len(pool))
                children.append(node(f"{name}.{c}", depth + 1, pool[:take]))
                pool = pool[take:]
        here = pool
        limit = random_limit(rng, 1.0 / (depth + 1))
        if depth == 0 and limit.amps is None and limit.watts is None:
            limit = Limit(amps=round(rng.uniform(16, 400), 1))
        curve: tuple[LimitPeriod, ...] = ()
        if rng.random() < 0.3:
            curve = (LimitPeriod(AT - timedelta(hours=1), AT + timedelta(hours=1), random_limit(rng, 1.0)),)
        return Node(name, limit, curve, children=tuple(children), stations=tuple(sid(s) for s in here))

    return SiteGrid(node("site", 0, names))


def random_session(rng: random.Random, n: int, stations: int) -> Session:
    station = sid(f"S{rng.randrange(stations)}")
    control = rng.choices(list(Control), weights=[8, 1, 1])[0]
    common: dict[str, Any] = {
        "priority": rng.choice([0, 0, 0, 1, 2]),
        "started_at": AT - timedelta(minutes=rng.randint(0, 300)),
        "control": control,
        "last_w": rng.choice([None, rng.uniform(1_000, 20_000)]),
        "draw_w": rng.choice([None, rng.uniform(0, 10_000)]),
        "below_for": timedelta(minutes=rng.choice([0, 1, 5])),
        "planned_w": rng.choice([None, None, None, 0.0, rng.uniform(500, 30_000)]),
    }
    if rng.random() < 0.3:
        return replace(Session(f"s{n}", station, rng.uniform(20_000, 150_000), Current.DC), **common)
    phases = rng.choice([(1,), (2,), (3,), (1, 2, 3), (2, 3, 1)])
    return Session.ac(f"s{n}", station, max_a=rng.choice([6, 10, 16, 32]), phases=phases, **common)
