"""When a new allocation becomes a profile sent to a station: material changes only, never chatter, safety first.

A new limit is sent when
- the station has none from us yet, or
- it must go down so that the limits in force stay within a node's limit (always, at once), or
- it changes materially (by at least `step_a` for AC or `step_w` for DC, and at least `step_ratio` of the limit
  in force; pausing or resuming always counts) and the station was sent nothing for `min_interval`.

A decrease that is not needed for safety waits like an increase, so small oscillations do not reach stations.
Reserves (offline, uncontrolled) are never sent: the station cannot or will not take them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from evscada.core.energy.allocation import RESERVES, Allocation
from evscada.core.energy.grid import PHASES, POWER, RESOURCES_PER_NODE, Layout, SiteGrid
from evscada.core.energy.waterfill import FULL
from evscada.core.model import StationId


@dataclass(frozen=True, slots=True)
class SendRule:
    step_a: float = 1.0
    step_w: float = 1000.0
    step_ratio: float = 0.05
    min_interval: timedelta = timedelta(seconds=30)  # per station


DEFAULT_RULE = SendRule()


def _value(a: Allocation) -> float:
    """What the profile carries: A for AC, W for DC."""
    return a.amps if a.amps is not None else a.watts


def is_material(previous: Allocation, new: Allocation, rule: SendRule = DEFAULT_RULE) -> bool:
    before, after = _value(previous), _value(new)
    if (before <= 0) != (after <= 0):
        return True
    step = rule.step_a if new.amps is not None else rule.step_w
    return abs(after - before) >= max(step, rule.step_ratio * before)


def should_send(
    previous: Allocation | None,
    new: Allocation,
    last_sent_at: datetime | None,
    now: datetime,
    *,
    required: bool = False,
    rule: SendRule = DEFAULT_RULE,
) -> bool:
    """Whether to send `new` to a station whose limit in force is `previous`, sent at `last_sent_at`.

    `required`: a node above the station would be over its limit with the limits in force (see `to_send`).
    """
    if previous is None:
        return True
    if _value(new) == _value(previous):
        return False
    if required and _value(new) < _value(previous):
        return True
    if last_sent_at is not None and now - last_sent_at < rule.min_interval:
        return False
    return is_material(previous, new, rule)


def _nodes_over(layout: Layout, capacity: list[float], limits: Sequence[Allocation]) -> set[int]:
    """The nodes over their limit (per phase or in total) if these limits were in force."""
    usage = [0.0] * layout.size
    for a in limits:
        per_phase = (
            [(p, a.amps) for p in a.phases]
            if a.amps is not None
            else [(p, a.watts / (len(PHASES) * layout.voltage_v)) for p in PHASES]
        )
        for node in layout.path(a.station_id):
            base = RESOURCES_PER_NODE * node
            for p, amps in per_phase:
                usage[base + p - 1] += amps
            usage[base + POWER] += a.watts
    return {r // RESOURCES_PER_NODE for r in range(layout.size) if usage[r] > capacity[r] + FULL}


def to_send(
    site: SiteGrid,
    allocations: Sequence[Allocation],
    in_force: Mapping[str, Allocation],
    last_sent_at: Mapping[StationId, datetime],
    now: datetime,
    *,
    rule: SendRule = DEFAULT_RULE,
) -> list[Allocation]:
    """The allocations to send now, given the limit in force per session and when each station was last sent one.

    First every change is judged on its own; if the limits then in force would take a node over its limit, every
    held decrease under that node is required. That is enough: each session's limit is then at most its new
    allocation, and the allocations fit.
    """
    steered = [a for a in allocations if a.reason not in RESERVES]

    def judged(a: Allocation, required: bool) -> bool:
        previous, last = in_force.get(a.session_id), last_sent_at.get(a.station_id)
        return should_send(previous, a, last, now, required=required, rule=rule)

    sent = {a.session_id for a in steered if judged(a, False)}
    projected = [a if a.reason in RESERVES or a.session_id in sent else in_force[a.session_id] for a in allocations]
    layout = Layout(site)
    over = _nodes_over(layout, layout.capacities(now), projected)
    return [
        a
        for a in steered
        if a.session_id in sent or (over and judged(a, not over.isdisjoint(layout.path(a.station_id))))
    ]
