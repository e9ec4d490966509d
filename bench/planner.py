"""Re-planning a depot: allocation and departure plan of N sessions, timed against a trivial equal split.

    .venv/bin/python bench/planner.py [--sessions 500] [--feeders 10] [--hours 12] [--repeat 7] [--seed 18]

The site: a grid connection (A per phase and kW, with a lower load-curve period in the evening) and `--feeders`
feeders with their own limits, the stations spread over them. The sessions: 60 % AC (one or three phases, 16 or
32 A, on rotated phases), 40 % DC buses of 150 kW; a few offline, uncontrolled or tapering; priorities 0-2.
Each vehicle has a SoC, a battery, a departure 3 h to `--hours` away and a target SoC; the plan has 15-minute slots
and an hourly tariff.

Re-planning is `allocate` (every session's limit now) plus `plan` (every vehicle's schedule to its departure), on
pure data: no database, no network. The baseline, measured in the same run on the same sessions, is a trivial
equal split (each feeder's limit divided by its sessions, capped at each session's maximum): the least any
allocator does. It prints the best and median time of `--repeat` runs of each, and their ratio.

It checks what it timed: one allocation per session, none paused, the allocations within every node's limit per
phase and in W, one plan per vehicle, the plan's caps within every node's limit in every slot, and each vehicle
on time or flagged with the energy it lacks. A failed check ends the run with exit status 1.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from evscada.core.energy.allocation import Allocation, Control, Reason, Session, allocate
from evscada.core.energy.grid import PHASES, Current, Limit, LimitPeriod, Node, SiteGrid
from evscada.core.energy.planner import PricePeriod, Vehicle, overloads, plan
from evscada.core.model import StationId

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
VOLTAGE = 230.0
T = TypeVar("T")


def depot(sessions: int, feeders: int) -> SiteGrid:
    per_feeder = -(-sessions // feeders)
    children = tuple(
        Node(
            f"feeder-{f}",
            Limit(amps=per_feeder * 20.0, watts=per_feeder * 14_000.0),
            stations=tuple(
                StationId(f"ST-{n:04d}") for n in range(f * per_feeder, min(sessions, (f + 1) * per_feeder))
            ),
        )
        for f in range(feeders)
    )
    evening = LimitPeriod(NOW + HOUR, NOW + 4 * HOUR, Limit(watts=sessions * 9_000.0))
    return SiteGrid(
        Node("connection", Limit(amps=sessions * 18.0, watts=sessions * 12_000.0), (evening,), None, children)
    )


def fleet(count: int, rng: random.Random) -> tuple[list[Session], list[Vehicle]]:
    sessions, vehicles = [], []
    for n in range(count):
        station = StationId(f"ST-{n:04d}")
        control = rng.choices([Control.CONTROLLED, Control.OFFLINE, Control.UNCONTROLLED], weights=[96, 3, 1])[0]
        common: dict[str, Any] = {
            "priority": rng.choice([0, 0, 1, 2]),
            "started_at": NOW - timedelta(minutes=rng.randint(0, 240)),
            "control": control,
            "last_w": rng.uniform(2_000, 10_000) if control is Control.OFFLINE else None,
        }
        departure = NOW + timedelta(minutes=rng.randint(3 * 60, 12 * 60))
        soc, target = rng.uniform(10, 60), rng.choice([80.0, 85.0, 90.0])
        if n % 5 < 3:
            phases = rng.choice([(1,), (2,), (3,), PHASES, (2, 3, 1)])
            max_a = rng.choice([16, 32]) if len(phases) == 3 else 16
            session = Session.ac(f"s{n}", station, max_a=max_a, phases=phases, **common)
            capacity = rng.choice([40_000.0, 60_000.0, 80_000.0])
            vehicle = Vehicle(
                f"s{n}", station, soc, capacity, session.max_w, departure, target, Current.AC, phases, VOLTAGE,
                common["priority"],
            )  # fmt: skip
        else:
            session = replace(Session(f"s{n}", station, 150_000.0, Current.DC), **common)
            vehicle = Vehicle(
                f"s{n}", station, soc, 350_000.0, 150_000.0, departure, target, priority=common["priority"]
            )
        if rng.random() < 0.1:  # a vehicle near full draws well below what it had
            session = replace(session, draw_w=session.max_w * 0.3, below_for=timedelta(minutes=5))
        sessions.append(session)
        vehicles.append(vehicle)
    return sessions, vehicles


def tariff(hours: int) -> list[PricePeriod]:
    prices = [0.32, 0.35, 0.38, 0.36, 0.30, 0.24, 0.18, 0.12, 0.10, 0.10, 0.11, 0.14, 0.20, 0.26]
    return [PricePeriod(NOW + n * HOUR, NOW + (n + 1) * HOUR, prices[n % len(prices)]) for n in range(hours + 1)]


def equal_split(site: SiteGrid, sessions: list[Session]) -> list[float]:
    """The baseline: each feeder's power limit divided among its sessions, capped at each session's maximum."""
    feeder_of = {s: node for node in site.root.children for s in node.stations}
    count: dict[str, int] = {}
    for s in sessions:
        count[feeder_of[s.station_id].id] = count.get(feeder_of[s.station_id].id, 0) + 1
    found = []
    for s in sessions:
        node = feeder_of[s.station_id]
        found.append(min(s.max_w, (node.limit.watts or 0.0) / count[node.id]))
    return found


def timed(repeat: int, work: Callable[[], T]) -> tuple[list[float], T]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return times, result


def over(site: SiteGrid, allocations: list[Allocation]) -> list[str]:
    """Nodes over their limit at NOW, counted here apart from the allocator's own arithmetic."""
    found = []
    for node in site.root.walk():
        stations = {s for n in node.walk() for s in n.stations}
        amps, watts = [0.0, 0.0, 0.0], 0.0
        for a in allocations:
            if node is site.root or a.station_id in stations:
                watts += a.watts
                for p in a.phases if a.amps is not None else PHASES:
                    amps[p - 1] += a.amps if a.amps is not None else a.watts / (3 * site.voltage_v)
        limit = node.limit_at(NOW)
        if (limit.amps is not None and max(amps) > limit.amps + 1e-6) or (
            limit.watts is not None and watts > limit.watts + 1e-6
        ):
            found.append(f"{node.id}: {max(amps):.1f} A, {watts:.0f} W over {limit}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--feeders", type=int, default=10)
    parser.add_argument("--hours", type=int, default=12, help="the plan's horizon; departures fall within it")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()

    site = depot(args.sessions, args.feeders)
    sessions, vehicles = fleet(args.sessions, random.Random(args.seed))
    prices = tariff(args.hours)
    horizon = args.hours * HOUR

    base_times, _ = timed(args.repeat, lambda: equal_split(site, sessions))
    alloc_times, allocations = timed(args.repeat, lambda: allocate(site, sessions, NOW))
    plan_times, result = timed(args.repeat, lambda: plan(site, vehicles, NOW, horizon, prices))
    both_times, _ = timed(
        args.repeat, lambda: (allocate(site, sessions, NOW), plan(site, vehicles, NOW, horizon, prices))
    )

    problems = []
    if [a.session_id for a in allocations] != [s.id for s in sessions]:
        problems.append("not one allocation per session")
    paused = [a.session_id for a in allocations if a.reason is Reason.PAUSED]
    if paused:
        problems.append(f"{len(paused)} sessions paused: {paused[:5]}")
    problems += over(site, allocations)
    if [v.vehicle_id for v in result.vehicles] != [v.id for v in vehicles]:
        problems.append("not one plan per vehicle")
    problems += [f"plan over {node} in slot {slot.start:%H:%M}" for slot, node in overloads(site, result, vehicles)]
    for v, p in zip(vehicles, result.vehicles, strict=True):
        wanted = v.curve.energy_to(v.soc_pct, v.target_soc_pct)
        # On time: at least what it needs, and at most one slot at its minimum power more (a slot's cap is whole).
        got, most = sum(p.energy_wh), wanted + (4_140 if v.current is Current.AC else 1_000) * 0.25
        if (p.on_time and not wanted - 1 <= got <= most) or (not p.on_time and abs(got + p.short_wh - wanted) > 1):
            problems.append(f"{v.id}: plans {got:.0f} Wh, lacks {p.short_wh:.0f} Wh, of {wanted:.0f} Wh")

    def ms(times: list[float]) -> str:
        return f"best {min(times) * 1000:8.2f} ms, median {statistics.median(times) * 1000:8.2f} ms"

    reasons: dict[str, int] = {}
    for a in allocations:
        reasons[a.reason.value] = reasons.get(a.reason.value, 0) + 1
    print(f"site: {args.feeders} feeders, {args.sessions} sessions; plan: {len(result.slots)} slots of 15 min")
    print(f"  baseline (equal split):  {ms(base_times)}")
    print(f"  allocate:                {ms(alloc_times)}")
    print(f"  plan:                    {ms(plan_times)}")
    print(f"  re-plan (both):          {ms(both_times)}")
    ratio = statistics.median(both_times) / statistics.median(base_times)
    print(f"  ratio re-plan / baseline (medians): {ratio:.0f}x")
    print(f"  allocations by reason: {dict(sorted(reasons.items()))}")
    drawn = sum(a.watts for a in allocations) / 1000
    print(f"  allocated {drawn:.0f} kW (reserves included) under {site.root.limit_at(NOW)} at the connection")
    short = sum(v.short_wh for v in result.late) / 1000
    why = {str(k): sum(v.limited_by is k for v in result.late) for k in {v.limited_by for v in result.late}}
    print(f"  plan: {len(result.late)} of {len(vehicles)} vehicles late {why}, {short:.0f} kWh short in all")
    if problems:
        print("FAILED:", *problems[:20], sep="\n  ")
        return 1
    print("checks: one allocation per session, none paused, every node within its limit now and in every slot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
