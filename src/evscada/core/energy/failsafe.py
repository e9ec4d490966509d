"""Fail-safe limits: what each station may draw on its own, so that a site stays inside its connection without us.

A station applies these when it cannot reach the CSMS (TxDefault for each new transaction, ChargePointMax /
ChargingStationMax for the station as a whole), so they must hold whatever happens meanwhile. The rule:

1. Every node's limit is the lowest it will have from now on: its static limit, every period of its load curve
   that has not ended, a curtailment still running. Nobody can tell the station when a lower period begins.
2. Every EVSE of every station counts as charging at once, at its own maximum.
3. A station that does not obey keeps its maximum reserved: it draws it whatever we tell it.
4. The rest is shared as the allocator shares it (allocation.py), with no taper and no plan: in order of
   priority, then station id, each EVSE gets the minimum (AC: 6 A per phase) while that still fits under every
   node above it, else 0 (it pauses until the CSMS is back); what is left is split by max-min fairness, capped at
   each EVSE's maximum. With alike EVSEs that is each node's limit divided by the number of EVSEs under it.

A station's ChargePointMax is the sum of its EVSEs' limits. The allocator's result fits every node per phase and
in W (rounded down to 0.1 A / 1 W), so the fail-safe limits of all stations together do too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from evscada.core.energy.allocation import DEFAULT_POLICY, RESERVES, Control, Policy, Session, allocate
from evscada.core.energy.grid import PHASES, Current, SiteGrid
from evscada.core.model import StationId


@dataclass(frozen=True, slots=True)
class Charger:
    """A station as the fail-safe rule sees it."""

    station_id: StationId
    max_w: float  # per EVSE
    evses: int = 1
    current: Current = Current.AC
    phases: tuple[int, ...] = PHASES  # AC: the site phases it draws on
    voltage_v: float = 230.0
    priority: int = 0
    obeys: bool = True  # False: it rejects profiles or draws more than allowed


@dataclass(frozen=True, slots=True)
class FailSafe:
    station_id: StationId
    evse_w: tuple[float, ...]  # TxDefault per EVSE (EVSE 1 first)
    evse_a: tuple[float, ...] | None  # the same per phase in A, for AC
    station_w: float  # ChargePointMax / ChargingStationMax
    station_a: float | None
    reserved: bool  # it does not obey: this is its maximum, counted against the others, not a limit it keeps


def fail_safe_limits(
    site: SiteGrid, chargers: Sequence[Charger], at: datetime, policy: Policy = DEFAULT_POLICY
) -> list[FailSafe]:
    """Each station's fail-safe limits from `at` on, in the order given."""
    worst = site.with_limits(lambda node: node.lowest_from(at))
    sessions = [
        Session(
            f"{c.station_id}/{n}",
            c.station_id,
            c.max_w,
            c.current,
            c.phases,
            c.voltage_v,
            c.priority,
            control=Control.CONTROLLED if c.obeys else Control.UNCONTROLLED,
        )
        for c in chargers
        for n in range(1, c.evses + 1)
    ]
    allocations = iter(allocate(worst, sessions, at, policy))
    found = []
    for c in chargers:
        evses = [next(allocations) for _ in range(c.evses)]
        amps = tuple(a.amps for a in evses if a.amps is not None) if c.current is Current.AC else None
        found.append(
            FailSafe(
                c.station_id,
                tuple(a.watts for a in evses),
                amps,
                sum(a.watts for a in evses),
                sum(amps) if amps is not None else None,
                any(a.reason in RESERVES for a in evses),
            )
        )
    return found
