"""Departure-aware planning: a schedule per vehicle so that each reaches its target SoC by its departure.

The plan cuts [now, now + horizon) into slots (15 minutes by default) on a grid aligned at midnight UTC, so that
hourly and quarter-hourly tariffs fit them; the first slot ends at the next boundary. In each slot every node has
the tightest limit that applies during the slot (load curve and curtailment included), and the plan never puts
more under a node than that: the caps it gives add up within every limit, per phase and in W.

Vehicles are planned one after the other: highest priority first, then those that can make it alone before those
that cannot even with the site to themselves, then the least slack (time to departure minus the shortest charging
time its own curve allows), then the earliest departure. Each vehicle then takes, within its window, the cheapest
slots first at the most that is left for it (the site's remaining capacity, its own maximum and its taper above
~80 %), as early as possible among slots of the same price, until it reaches its target. A vehicle that will not
reach it is known when the plan is made: the energy it will lack, the SoC it will leave with, and whether its own
power and time were short or the site's capacity was.

What it is not: an optimum. Each vehicle gets what those planned before it left, so on a tight site another order
could sometimes save a vehicle this one flags; planning the least slack first makes that rare. A slot offering a
vehicle less than its minimum (6 A per phase, DC `dc_minimum_w`) is no use to it, and a slot's cap is never below
that minimum, so a vehicle may finish a little above its target. A vehicle leaving after the horizon is planned
within it but not judged.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from evscada.core.energy.allocation import DEFAULT_POLICY, Policy, minimum_w
from evscada.core.energy.battery import FULL_PCT, ChargeCurve
from evscada.core.energy.grid import PHASES, RESOURCES_PER_NODE, Coefficients, Current, Layout, SiteGrid
from evscada.core.energy.waterfill import FULL
from evscada.core.model import StationId

SLOT = timedelta(minutes=15)
TOLERANCE_WH = 1.0  # short by less than this: on time
_SOC_EPS = 1e-9
_CLOSE_WH = TOLERANCE_WH / 2  # a budget left below this is spent


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: str
    station_id: StationId
    soc_pct: float
    capacity_wh: float
    max_w: float  # the lower of the vehicle's and the station's maximum
    departure: datetime | None
    target_soc_pct: float = 100.0
    current: Current = Current.DC
    phases: tuple[int, ...] = PHASES  # AC: the site phases it draws on
    voltage_v: float = 230.0  # AC: phase to neutral
    priority: int = 0
    taper_from_pct: float = 80.0
    end_ratio: float = 0.1  # the power it accepts at 100 %, as a fraction of max_w

    @property
    def curve(self) -> ChargeCurve:
        return ChargeCurve(self.capacity_wh, self.max_w, self.taper_from_pct, self.end_ratio)


@dataclass(frozen=True, slots=True)
class PricePeriod:
    start: datetime
    end: datetime
    price: float  # per kWh


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime
    price: float | None  # the price at its start; None where the tariff says nothing

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


class Shortfall(enum.StrEnum):
    VEHICLE = "vehicle"  # its own power and the time to departure are not enough, even with the site to itself
    SITE = "site"  # the site's capacity, shared with the others, is not enough


@dataclass(frozen=True, slots=True)
class VehiclePlan:
    vehicle_id: str
    station_id: StationId
    power_w: tuple[float, ...]  # per slot of the plan: the cap its session gets then (0: it waits)
    energy_wh: tuple[float, ...]  # per slot: what it takes under that cap
    expected_soc_pct: float  # at departure; at the horizon's end when it leaves later
    short_wh: float  # what it will lack at departure (0 when on time or leaving after the horizon)
    limited_by: Shortfall | None

    @property
    def on_time(self) -> bool:
        return self.short_wh <= TOLERANCE_WH


@dataclass(frozen=True, slots=True)
class Plan:
    made_at: datetime
    slots: tuple[Slot, ...]
    vehicles: tuple[VehiclePlan, ...]

    @property
    def late(self) -> tuple[VehiclePlan, ...]:
        """The vehicles that will not reach their target by their departure."""
        return tuple(v for v in self.vehicles if not v.on_time)

    @property
    def cost(self) -> float | None:
        """What the planned energy costs at the tariff (None without one)."""
        if all(s.price is None for s in self.slots):
            return None
        return sum(
            e * (s.price or 0.0) / 1000 for v in self.vehicles for s, e in zip(self.slots, v.energy_wh, strict=True)
        )

    def of(self, vehicle_id: str) -> VehiclePlan:
        return next(v for v in self.vehicles if v.vehicle_id == vehicle_id)

    def caps_at(self, at: datetime) -> dict[str, float]:
        """Each vehicle's planned cap at a time, the allocator's `planned_w` (empty outside the plan)."""
        for n, slot in enumerate(self.slots):
            if slot.start <= at < slot.end:
                return {v.vehicle_id: v.power_w[n] for v in self.vehicles}
        return {}


def _price(tariff: Sequence[PricePeriod] | None, at: datetime) -> float | None:
    for period in tariff or ():
        if period.start <= at < period.end:
            return period.price
    return None


def slots_of(
    now: datetime, horizon: timedelta, tariff: Sequence[PricePeriod] | None = None, length: timedelta = SLOT
) -> tuple[Slot, ...]:
    """The plan's slots: on the grid of `length` from midnight UTC, the first ending at the next boundary."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    boundary = midnight + ((now - midnight) // length + 1) * length
    end = now + horizon
    found: list[Slot] = []
    start = now
    while start < end:
        stop = min(boundary, end)
        found.append(Slot(start, stop, _price(tariff, start)))
        start, boundary = stop, boundary + length
    return tuple(found)


def plan(
    site: SiteGrid,
    vehicles: Sequence[Vehicle],
    now: datetime,
    horizon: timedelta,
    tariff: Sequence[PricePeriod] | None = None,
    *,
    slot: timedelta = SLOT,
    policy: Policy = DEFAULT_POLICY,
) -> Plan:
    """Plan every vehicle's charging from `now` over `horizon`, cheapest slots first when a tariff is given."""
    planner = _Planner(site, slots_of(now, horizon, tariff, slot), now, now + horizon, policy)
    planned = {v.id: planner.vehicle(v) for v in sorted(vehicles, key=planner.order)}
    return Plan(now, planner.slots, tuple(planned[v.id] for v in vehicles))


_Filled = tuple[list[float], list[float], float]  # cap and energy per window slot, the SoC at the end


@dataclass(slots=True)
class _Window:
    """One vehicle's slots up to its departure: index, usable hours, price rank, most it may draw there."""

    least: float  # the least it charges at: a slot offering less is no use to it
    slots: list[int]
    hours: list[float]
    price: list[float]
    available: list[float]


class _Planner:
    def __init__(self, site: SiteGrid, slots: tuple[Slot, ...], start: datetime, end: datetime, policy: Policy) -> None:
        self.layout = Layout(site)
        self.slots = slots
        self.policy = policy
        self.start = start
        self.end = end
        # What is left under each node in each slot, as the vehicles take their share.
        self.remaining = [self.layout.capacities(s.start, s.end) for s in slots]
        self.price = [s.price if s.price is not None else math.inf for s in slots]

    def order(self, v: Vehicle) -> tuple[int, bool, float, datetime, str]:
        needed = v.curve.hours_to(v.soc_pct, v.target_soc_pct)
        time = (v.departure - self.start).total_seconds() / 3600 if v.departure is not None else math.inf
        slack = time - needed
        return -v.priority, slack < 0, slack, v.departure or datetime.max.replace(tzinfo=self.start.tzinfo), v.id

    def _window(self, v: Vehicle, coefficients: Coefficients) -> _Window:
        deadline = min(v.departure, self.end) if v.departure is not None else self.end
        least = min(minimum_w(v.current, len(v.phases) * v.voltage_v, self.policy), v.max_w)
        window = _Window(least, [], [], [], [])
        for k, slot in enumerate(self.slots):
            if slot.start >= deadline:
                break
            left = self.remaining[k]
            most = v.max_w
            for r, c in coefficients:
                if left[r] < most * c:
                    most = left[r] / c
            window.slots.append(k)
            window.hours.append((min(slot.end, deadline) - slot.start).total_seconds() / 3600)
            window.price.append(self.price[k])
            window.available.append(most if most >= least else 0.0)
        return window

    def vehicle(self, v: Vehicle) -> VehiclePlan:
        coefficients = self.layout.coefficients(v.station_id, v.current, v.phases, v.voltage_v)
        window = self._window(v, coefficients)
        curve = v.curve
        target = min(v.target_soc_pct, FULL_PCT)
        levels = sorted({p for p, a in zip(window.price, window.available, strict=True) if a > 0})
        caps, energies, soc = self._cheapest(v, window, levels, target)
        for k, cap in zip(window.slots, caps, strict=True):
            if cap > 0:
                left = self.remaining[k]
                for r, c in coefficients:
                    left[r] -= c * cap
        power = [0.0] * len(self.slots)
        energy = [0.0] * len(self.slots)
        for k, cap, e in zip(window.slots, caps, energies, strict=True):
            power[k], energy[k] = cap, e
        judged = v.departure is not None and v.departure <= self.end
        short = curve.energy_to(soc, target) if judged else 0.0
        limited_by = None
        if short > TOLERANCE_WH:
            alone = curve.hours_to(v.soc_pct, target) <= sum(window.hours) + _SOC_EPS
            limited_by = Shortfall.SITE if alone else Shortfall.VEHICLE
        return VehiclePlan(v.id, v.station_id, tuple(power), tuple(energy), soc, short, limited_by)

    def _cheapest(self, v: Vehicle, window: _Window, levels: list[float], target: float) -> _Filled:
        """Full below the marginal price, at it as early as needed to reach the target (all of it when it cannot)."""
        if not levels:
            return [0.0] * len(window.slots), [0.0] * len(window.slots), v.soc_pct
        if not self._reaches(v, window, levels[-1], target):
            return self._fill(v, window, levels[-1], math.inf)
        low, high = 0, len(levels) - 1  # the cheapest price level at which it reaches its target
        while low < high:
            middle = (low + high) // 2
            if self._reaches(v, window, levels[middle], target):
                high = middle
            else:
                low = middle + 1
        marginal = levels[low]
        below = levels[low - 1] if low else -math.inf
        budget = v.curve.energy_to(self._fill(v, window, below, math.inf)[2], target)
        found = self._fill(v, window, marginal, budget)
        return (
            found
            if v.curve.energy_to(found[2], target) <= _CLOSE_WH
            else self._land(v, window, marginal=marginal, budget=budget, short=found, target=target)
        )

    def _land(
        self, v: Vehicle, window: _Window, *, marginal: float, budget: float, short: _Filled, target: float
    ) -> _Filled:
        """The budget at the marginal price that lands on the target, by Illinois regula falsi.

        Energy taken at the marginal price raises the SoC at which a later, cheaper slot starts; above the taper
        point that slot then takes less, so the first budget (what the cheaper slots leave) falls short.
        """
        wh_per_pct = v.capacity_wh / FULL_PCT
        lo, f_lo = budget, (short[2] - target) * wh_per_pct
        best = self._fill(v, window, marginal, math.inf)
        hi = sum(e for e, p in zip(best[1], window.price, strict=True) if p == marginal)
        f_hi = (best[2] - target) * wh_per_pct
        side = 0
        for _ in range(30):
            middle = hi - f_hi * (hi - lo) / (f_hi - f_lo)
            found = self._fill(v, window, marginal, middle)
            f = (found[2] - target) * wh_per_pct
            if f >= 0:
                best = found
                if f < _CLOSE_WH:
                    break
                hi, f_hi, f_lo = middle, f, f_lo / 2 if side == 1 else f_lo
                side = 1
            else:
                lo, f_lo, f_hi = middle, f, f_hi / 2 if side == -1 else f_hi
                side = -1
        return best

    def _reaches(self, v: Vehicle, window: _Window, level: float, target: float) -> bool:
        soc, curve = v.soc_pct, v.curve
        for h, p, a in zip(window.hours, window.price, window.available, strict=True):
            if a > 0 and p <= level:
                soc = curve.soc_after(soc, a, h)
                if soc >= target - _SOC_EPS:
                    return True
        return False

    def _fill(self, v: Vehicle, window: _Window, marginal: float, budget_wh: float) -> _Filled:
        """Chronologically: all it can take where cheaper than `marginal`, and `budget_wh` in all where at it."""
        curve = v.curve
        soc = v.soc_pct
        caps: list[float] = []
        energies: list[float] = []
        for h, p, a in zip(window.hours, window.price, window.available, strict=True):
            at_margin = p == marginal
            if a <= 0 or p > marginal or soc >= FULL_PCT or (at_margin and budget_wh < _CLOSE_WH):
                caps.append(0.0)
                energies.append(0.0)
                continue
            cap = a
            after = curve.soc_after(soc, a, h)
            if at_margin and budget_wh != math.inf:
                goal = soc + budget_wh / v.capacity_wh * FULL_PCT
                if after > goal + _SOC_EPS:  # it needs less than all of it
                    cap = min(a, max(window.least, curve.cap_for(soc, goal, h)))
                    after = curve.soc_after(soc, cap, h)
            taken = (after - soc) * v.capacity_wh / FULL_PCT
            if at_margin:
                budget_wh -= taken
            caps.append(cap)
            energies.append(taken)
            soc = after
        return caps, energies, soc


def overloads(site: SiteGrid, plan: Plan, vehicles: Sequence[Vehicle]) -> list[tuple[Slot, str]]:
    """Slots and nodes where the plan's caps exceed the limit: none when fresh; after a curve change, what to redo."""
    layout = Layout(site)
    coefficients = {v.id: layout.coefficients(v.station_id, v.current, v.phases, v.voltage_v) for v in vehicles}
    found = []
    for k, slot in enumerate(plan.slots):
        capacity = layout.capacities(slot.start, slot.end)
        usage = [0.0] * layout.size
        for p in plan.vehicles:
            for r, c in coefficients[p.vehicle_id]:
                usage[r] += c * p.power_w[k]
        over = sorted({r // RESOURCES_PER_NODE for r in range(layout.size) if usage[r] > capacity[r] + FULL})
        found += [(slot, layout.nodes[n].id) for n in over]
    return found
