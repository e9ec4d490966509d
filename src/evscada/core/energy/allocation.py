"""Sharing what a site may draw among its running sessions, under every node's limit, and saying why.

The rule, in this order:
1. Reserve what the CSMS cannot steer: an offline station keeps its last allocation (its maximum if it never had
   one) until its fail-safe applies; a station that does not obey draws uncontrolled, so its maximum is reserved.
2. A session whose departure plan says "not in this slot" gets 0.
3. Admit sessions at their minimum (AC: `ac_minimum_a` on each phase it uses; DC: `dc_minimum_w`), highest
   priority first, then planned before unplanned, then the earliest arrival, then the id. A session whose minimum
   no longer fits under every node above it is paused: the lowest priorities pause instead of everyone starving.
4. Share the rest by progressive filling (max-min fairness), one tier after the other (by priority; planned before
   unplanned at the same priority): within a tier every session rises at the same current per phase (a DC session
   counts as a three-phase load of the same current) until it reaches its own ceiling or a node above it is full.
   The ceiling is the lowest of the station's and vehicle's maximum, its departure plan for this slot (raised to
   the minimum if below it), and, for a vehicle that has drawn well below its allocation for `taper_after`, what it
   draws plus a margin: the spare goes to the others.

Limits are per phase in A and in total W at every node (grid.py); AC allocations are rounded down to 0.1 A and DC
ones to 1 W, so the rounding never takes a node over its limit.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from evscada.core.energy.grid import PHASES, Current, Layout, SiteGrid
from evscada.core.energy.waterfill import FULL, Claim, fill
from evscada.core.model import StationId


class Reason(enum.StrEnum):
    """Why a session has the allocation it has: the console shows it."""

    MINIMUM = "minimum"
    EQUAL_SHARE = "equal_share"
    PRIORITY = "priority"
    CAPPED = "capped_by_max"  # the station's or the vehicle's own maximum
    TAPERING = "tapering"  # draws well below what it had: the spare went to others
    DEPARTURE_PLAN = "departure_plan"
    PAUSED = "paused_no_capacity"
    OFFLINE_RESERVE = "offline_reserve"
    UNCONTROLLED_RESERVE = "uncontrolled_reserve"


RESERVES = frozenset({Reason.OFFLINE_RESERVE, Reason.UNCONTROLLED_RESERVE})


class Control(enum.StrEnum):
    CONTROLLED = "controlled"
    OFFLINE = "offline"  # cannot be told anything: its last allocation stays reserved
    UNCONTROLLED = "uncontrolled"  # rejects profiles or draws more than allowed: its maximum is reserved


@dataclass(frozen=True, slots=True)
class Policy:
    ac_minimum_a: float = 6.0  # IEC 61851: an AC vehicle cannot charge below 6 A
    dc_minimum_w: float = 1000.0
    taper_after: timedelta = timedelta(minutes=2)  # how long a vehicle draws well below before its spare is shared
    taper_below: float = 0.8  # "well below": under this fraction of its allocation
    taper_margin: float = 0.1  # a tapering vehicle keeps its draw plus this fraction ...
    taper_headroom_a: float = 1.0  # ... plus this much per phase (AC)
    taper_headroom_w: float = 1000.0  # ... or this much (DC)
    top_up_plans: bool = True  # capacity left after every tier also goes to planned sessions, beyond their plan


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class Session:
    """A running session as the allocator needs it; W throughout, AC maxima converted by `Session.ac`."""

    id: str
    station_id: StationId
    max_w: float  # the lower of the station's (EVSE's) and the vehicle's maximum
    current: Current = Current.AC
    phases: tuple[int, ...] = PHASES  # AC: the site phases it draws on, wiring rotation included
    voltage_v: float = 230.0  # AC: phase to neutral (a DC session is weighed at the site's voltage)
    priority: int = 0  # higher first: from the vehicle, the token or the fleet
    started_at: datetime | None = None
    control: Control = Control.CONTROLLED
    last_w: float | None = None  # what it was given last: reserved while its station is offline
    draw_w: float | None = None  # measured
    below_for: timedelta = field(default=timedelta(0))  # how long draw_w has been well below its allocation
    planned_w: float | None = None  # its departure plan's power for this slot

    @classmethod
    def ac(
        cls,
        id: str,
        station_id: StationId,
        *,
        max_a: float,
        phases: tuple[int, ...] = PHASES,
        voltage_v: float = 230.0,
        **others: Any,
    ) -> Session:
        """An AC session whose maximum is given in A per phase; `others` are the remaining fields."""
        return replace(cls(id, station_id, max_a * len(phases) * voltage_v, Current.AC, phases, voltage_v), **others)

    @property
    def watts_per_amp(self) -> float:
        """AC: W this session draws per A on each of its phases."""
        return len(self.phases) * self.voltage_v


@dataclass(frozen=True, slots=True)
class Allocation:
    session_id: str
    station_id: StationId
    watts: float
    amps: float | None  # AC: per phase, what a profile in A carries; None for DC
    phases: tuple[int, ...]  # AC: the phases it draws on; DC: ()
    reason: Reason


def draws_well_below(allocated_w: float, draw_w: float, policy: Policy = DEFAULT_POLICY) -> bool:
    """Whether a measured draw counts as well below its allocation: the caller times how long it stays so."""
    return draw_w < policy.taper_below * allocated_w


def minimum_w(current: Current, watts_per_amp: float, policy: Policy = DEFAULT_POLICY) -> float:
    """The least a session charges at: AC `ac_minimum_a` per phase (watts_per_amp: phases x V), DC `dc_minimum_w`."""
    return policy.ac_minimum_a * watts_per_amp if current is Current.AC else policy.dc_minimum_w


def _minimum(s: Session, policy: Policy) -> float:
    return min(minimum_w(s.current, s.watts_per_amp, policy), s.max_w)


def _ceiling(s: Session, floor: float, policy: Policy) -> tuple[float, Reason]:
    """The most this session may get and what sets it: its plan, its taper, or its own maximum."""
    candidates = []  # on a tie the first one names the reason
    if s.planned_w is not None:
        candidates.append((s.planned_w, Reason.DEPARTURE_PLAN))
    if s.draw_w is not None and s.below_for >= policy.taper_after:
        headroom = policy.taper_headroom_a * s.watts_per_amp if s.current is Current.AC else policy.taper_headroom_w
        candidates.append((s.draw_w * (1 + policy.taper_margin) + headroom, Reason.TAPERING))
    candidates.append((s.max_w, Reason.CAPPED))
    watts, reason = min(candidates, key=lambda c: c[0])
    return max(watts, floor), reason


def _rounded(s: Session, watts: float, reason: Reason) -> Allocation:
    """Down to what a profile carries (0.1 A, 1 W); a reserve is what the station may draw, kept as it is."""
    exact = reason in RESERVES
    if s.current is Current.AC:
        amps = watts / s.watts_per_amp
        amps = amps if exact else math.floor(amps * 10 + 1e-6) / 10
        return Allocation(s.id, s.station_id, amps * s.watts_per_amp, amps, s.phases, reason)
    return Allocation(s.id, s.station_id, watts if exact else float(math.floor(watts + 1e-6)), None, (), reason)


def allocate(
    site: SiteGrid, sessions: Sequence[Session], at: datetime, policy: Policy = DEFAULT_POLICY
) -> list[Allocation]:
    """Each session's allocation at `at`, in the order given."""
    return _Sharing(site, sessions, at, policy).run()


class _Sharing:
    """One allocation: the resources' capacity and use, and what each session got so far."""

    def __init__(self, site: SiteGrid, sessions: Sequence[Session], at: datetime, policy: Policy) -> None:
        layout = Layout(site)
        self.sessions = sessions
        self.at = at
        self.policy = policy
        self.capacity = layout.capacities(at)
        three_phase = len(PHASES) * layout.voltage_v  # a DC session rises like a three-phase load
        self.weights = [s.watts_per_amp if s.current is Current.AC else three_phase for s in sessions]
        self.used = [0.0] * layout.size
        self.result: list[Allocation | None] = [None] * len(sessions)
        self.floors: dict[int, float] = {}
        self.exact: dict[int, float] = {}  # what each admitted session got, before rounding
        self.coefficients = [
            tuple(
                (r, c)
                for r, c in layout.coefficients(s.station_id, s.current, s.phases, s.voltage_v)
                if self.capacity[r] != math.inf
            )
            for s in sessions
        ]

    def run(self) -> list[Allocation]:
        admitted = self._admit(self._reserve())
        lowest = min((self.sessions[i].priority for i in admitted), default=0)
        tier: list[int] = []
        for n, i in enumerate(admitted):
            tier.append(i)
            following = admitted[n + 1] if n + 1 < len(admitted) else None
            if following is None or _tier(self.sessions[following]) != _tier(self.sessions[i]):
                self._fill(tier, lowest)
                tier = []
        if self.policy.top_up_plans:
            self._top_up([i for i in admitted if self.sessions[i].planned_w is not None])
        return [a for a in self.result if a is not None]

    def _take(self, i: int, watts: float) -> None:
        for r, c in self.coefficients[i]:
            self.used[r] += c * watts

    def _reserve(self) -> list[int]:
        """Reserve what cannot be steered; the controlled sessions left to share, in admission order."""
        waiting: list[int] = []
        for i, s in enumerate(self.sessions):
            if s.control is Control.UNCONTROLLED:
                self._take(i, s.max_w)
                self.result[i] = _rounded(s, s.max_w, Reason.UNCONTROLLED_RESERVE)
            elif s.control is Control.OFFLINE:
                reserve = s.max_w if s.last_w is None else s.last_w
                self._take(i, reserve)
                self.result[i] = _rounded(s, reserve, Reason.OFFLINE_RESERVE)
            elif s.planned_w is not None and s.planned_w <= 0:
                self.result[i] = _rounded(s, 0.0, Reason.DEPARTURE_PLAN)
            else:
                waiting.append(i)
        return sorted(waiting, key=self._admission_order)

    def _admission_order(self, i: int) -> tuple[int, bool, datetime, str]:
        s = self.sessions[i]
        return -s.priority, s.planned_w is None, s.started_at or self.at, s.id

    def _admit(self, waiting: list[int]) -> list[int]:
        """Give each session its minimum while it fits under every node above it; pause the others."""
        admitted: list[int] = []
        used, capacity = self.used, self.capacity
        for i in waiting:
            floor = _minimum(self.sessions[i], self.policy)
            if all(used[r] + c * floor <= capacity[r] + FULL for r, c in self.coefficients[i]):
                self._take(i, floor)
                self.floors[i] = floor
                admitted.append(i)
            else:
                self.result[i] = _rounded(self.sessions[i], 0.0, Reason.PAUSED)
        return admitted

    def _fill(self, tier: list[int], lowest: int) -> None:
        sessions, floors = self.sessions, self.floors
        ceilings = [_ceiling(sessions[i], floors[i], self.policy) for i in tier]
        claims = [
            Claim(floors[i], ceiling, self.weights[i], self.coefficients[i])
            for i, (ceiling, _) in zip(tier, ceilings, strict=True)
        ]
        for i, share, (_, cause) in zip(tier, fill(claims, self.capacity, self.used), ceilings, strict=True):
            s = sessions[i]
            if share.at_ceiling:
                reason = cause
            elif share.watts <= floors[i] + FULL:
                reason = Reason.MINIMUM
            else:
                reason = Reason.PRIORITY if s.priority > lowest else Reason.EQUAL_SHARE
            self.exact[i] = share.watts
            self.result[i] = _rounded(s, share.watts, reason)

    def _top_up(self, planned: list[int]) -> None:
        """What every tier left goes to the planned sessions too, up to their own ceiling: a plan is what a vehicle
        is sure of in a slot, not a cap that leaves the site idle."""
        sessions = self.sessions
        claims = []
        for i in planned:
            unplanned = replace(sessions[i], planned_w=None)
            ceiling, _ = _ceiling(unplanned, self.exact[i], self.policy)
            claims.append(Claim(self.exact[i], ceiling, self.weights[i], self.coefficients[i]))
        for i, claim, share in zip(planned, claims, fill(claims, self.capacity, self.used), strict=True):
            if share.watts > claim.floor + FULL:
                reason = _ceiling(replace(sessions[i], planned_w=None), claim.floor, self.policy)[1]
                self.result[i] = _rounded(sessions[i], share.watts, reason if share.at_ceiling else Reason.EQUAL_SHARE)


def _tier(s: Session) -> tuple[int, bool]:
    return s.priority, s.planned_w is not None
