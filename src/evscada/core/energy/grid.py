"""A site as the grid sees it: the connection, the feeders below it, and the limits each has at a given time.

Every node (the connection at the root, a feeder or transformer below it) has a static limit, an optional load
curve from the grid operator (periods with a maximum) and an optional emergency curtailment (a maximum until a
time). Its effective limit at a time is the tightest of those that apply then. A limit is in A per phase, in W,
or both; the connection is three-phase at `voltage_v` phase to neutral.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

from evscada.core.model import StationId

PHASES = (1, 2, 3)
RESOURCES_PER_NODE = 4  # the current on L1, L2, L3 (A) and the power (W)
POWER = 3  # offset of the power resource within a node's four


class Current(enum.StrEnum):
    AC = "AC"
    DC = "DC"


def _tighter(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


@dataclass(frozen=True, slots=True)
class Limit:
    """A maximum current per phase and/or a maximum power; None: no limit of that kind."""

    amps: float | None = None
    watts: float | None = None

    def min(self, other: Limit) -> Limit:
        """The tighter of both, kind by kind."""
        return Limit(_tighter(self.amps, other.amps), _tighter(self.watts, other.watts))


NO_LIMIT = Limit()


def _applies(since: datetime | None, until: datetime | None, start: datetime, end: datetime) -> bool:
    """Whether [since, until) meets the instant `start` (start == end) or the interval [start, end)."""
    if start == end:
        return (since is None or since <= start) and (until is None or start < until)
    return (since is None or since < end) and (until is None or until > start)


@dataclass(frozen=True, slots=True)
class LimitPeriod:
    """One period of a load curve: `limit` applies from `start` until `end` (None: open-ended)."""

    start: datetime
    end: datetime | None
    limit: Limit


@dataclass(frozen=True, slots=True)
class Curtailment:
    """An emergency maximum the grid operator imposes until a time."""

    limit: Limit
    until: datetime
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Node:
    """The connection, a feeder or a transformer: its limits, the nodes below it and the stations it feeds."""

    id: str
    limit: Limit = NO_LIMIT
    curve: tuple[LimitPeriod, ...] = ()
    curtailment: Curtailment | None = None
    children: tuple[Node, ...] = ()
    stations: tuple[StationId, ...] = ()

    def limit_at(self, at: datetime) -> Limit:
        """The effective limit at an instant."""
        return self.limit_over(at, at)

    def limit_over(self, start: datetime, end: datetime) -> Limit:
        """The tightest limit that applies at any time in [start, end) (at the instant when both are equal)."""
        limit = self.limit
        for period in self.curve:
            if _applies(period.start, period.end, start, end):
                limit = limit.min(period.limit)
        c = self.curtailment
        if c is not None and _applies(c.since, c.until, start, end):
            limit = limit.min(c.limit)
        return limit

    def lowest_from(self, at: datetime) -> Limit:
        """The tightest limit from `at` on, for as long as anything is known: what holds without a CSMS."""
        limit = self.limit
        for period in self.curve:
            if period.end is None or period.end > at:
                limit = limit.min(period.limit)
        if self.curtailment is not None and self.curtailment.until > at:
            limit = limit.min(self.curtailment.limit)
        return limit

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class SiteGrid:
    """The tree of nodes from the grid connection down; stations not named under any node hang from the root."""

    root: Node
    voltage_v: float = 230.0  # phase to neutral

    def with_limits(self, limit_of: Callable[[Node], Limit]) -> SiteGrid:
        """The same tree with each node's limit replaced by limit_of(node), and no curve or curtailment."""

        def rebuilt(node: Node) -> Node:
            children = tuple(rebuilt(c) for c in node.children)
            return replace(node, limit=limit_of(node), curve=(), curtailment=None, children=children)

        return replace(self, root=rebuilt(self.root))


Coefficients = tuple[tuple[int, float], ...]  # (resource, how much of it one W drawn uses)


class Layout:
    """The resources of a site numbered for fast arithmetic: per node, its three phase currents and its power."""

    __slots__ = ("_index", "_paths", "nodes", "size", "voltage_v")

    def __init__(self, grid: SiteGrid) -> None:
        self.nodes = tuple(grid.root.walk())
        self.size = RESOURCES_PER_NODE * len(self.nodes)
        self.voltage_v = grid.voltage_v
        self._index = {node.id: i for i, node in enumerate(self.nodes)}
        self._paths: dict[StationId, tuple[int, ...]] = {}

        def visit(node: Node, path: tuple[int, ...]) -> None:
            here = (*path, self._index[node.id])
            for station in node.stations:
                self._paths[station] = here
            for child in node.children:
                visit(child, here)

        visit(grid.root, ())

    def path(self, station_id: StationId) -> tuple[int, ...]:
        """Indexes of the nodes a station draws through, the root first."""
        return self._paths.get(station_id, (0,))

    def capacities(self, start: datetime, end: datetime | None = None) -> list[float]:
        """Each resource's capacity at `start`, or over [start, end) (inf where the node has no such limit)."""
        caps = [math.inf] * self.size
        for i, node in enumerate(self.nodes):
            limit = node.limit_over(start, end or start)
            base = RESOURCES_PER_NODE * i
            if limit.amps is not None:
                caps[base] = caps[base + 1] = caps[base + 2] = limit.amps
            if limit.watts is not None:
                caps[base + POWER] = limit.watts
        return caps

    def coefficients(
        self, station_id: StationId, current: Current, phases: tuple[int, ...], voltage_v: float
    ) -> Coefficients:
        """What one W drawn by a session uses of each resource on its station's path.

        AC draws W / (phases x V) amps on each of its phases; DC draws from all three phases evenly
        (a rectifier's input, power factor and losses left out).
        """
        if current is Current.AC:
            per_phase = [(p - 1, 1.0 / (len(phases) * voltage_v)) for p in phases]
        else:
            per_phase = [(p - 1, 1.0 / (len(PHASES) * self.voltage_v)) for p in PHASES]
        found: list[tuple[int, float]] = []
        for node in self.path(station_id):
            base = RESOURCES_PER_NODE * node
            found += [(base + offset, c) for offset, c in per_phase]
            found.append((base + POWER, 1.0))
        return tuple(found)
