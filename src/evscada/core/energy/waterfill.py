"""Progressive filling (max-min fairness): claims on shared resources rise together until a resource is full.

Every claim has a floor (already counted as used), a ceiling and a weight; at the common level L a claim holds
clamp(L x weight, floor, ceiling). L rises from 0; a claim stops rising at its ceiling, or when a resource it uses
is full. The level moves from event to event (a floor or ceiling reached, a resource filled), never by small
steps, so the result is exact and deterministic.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

from evscada.core.energy.grid import Coefficients

FULL = 1e-7  # a resource this close to its capacity is full (A or W)
_START, _STOP = 0, 1


@dataclass(frozen=True, slots=True)
class Claim:
    floor: float  # W it holds already, counted in `used`
    ceiling: float  # W it may reach
    weight: float  # W per unit of the common level
    coefficients: Coefficients  # what one W uses of each resource


@dataclass(frozen=True, slots=True)
class Share:
    watts: float
    at_ceiling: bool  # False: a resource it uses filled first (or it could not rise from its floor)


class _Resources:
    """Usage that grows linearly with the level between events, brought up to date only when touched."""

    __slots__ = ("at", "capacity", "heap", "rising", "slope", "used", "version")

    def __init__(self, capacity: Sequence[float], used: list[float]) -> None:
        n = len(capacity)
        self.capacity = capacity
        self.used = used
        self.at = [0.0] * n
        self.slope = [0.0] * n
        self.rising = [0] * n
        self.version = [0] * n
        self.heap: list[tuple[float, int, int]] = []

    def now(self, r: int, level: float) -> float:
        return self.used[r] + self.slope[r] * (level - self.at[r])

    def change(self, r: int, delta: float, level: float, joining: int) -> None:
        self.used[r] = self.now(r, level)
        self.at[r] = level
        self.rising[r] += joining
        self.slope[r] = self.slope[r] + delta if self.rising[r] else 0.0
        self.version[r] += 1
        cap = self.capacity[r]
        if self.slope[r] > 0 and cap != math.inf:
            full_at = level + max(0.0, cap - self.used[r]) / self.slope[r]
            heapq.heappush(self.heap, (full_at, self.version[r], r))

    def next_full(self) -> tuple[float, int]:
        """The level at which the next resource fills, and which (inf, -1 when none will)."""
        heap = self.heap
        while heap and heap[0][1] != self.version[heap[0][2]]:
            heapq.heappop(heap)
        return (heap[0][0], heap[0][2]) if heap else (math.inf, -1)


def _events(
    claims: Sequence[Claim], shares: list[Share | None]
) -> tuple[list[tuple[float, int, int]], dict[int, list[int]]]:
    """The levels at which each claim starts and stops rising, in order, and the claims using each resource."""
    users: dict[int, list[int]] = {}
    events: list[tuple[float, int, int]] = []
    for i, claim in enumerate(claims):
        if claim.ceiling <= claim.floor:
            shares[i] = Share(claim.floor, True)
            continue
        for r, _ in claim.coefficients:
            users.setdefault(r, []).append(i)
        events.append((claim.floor / claim.weight, _START, i))
        events.append((claim.ceiling / claim.weight, _STOP, i))
    events.sort()
    return events, users


def fill(claims: Sequence[Claim], capacity: Sequence[float], used: list[float]) -> list[Share]:
    """Raise the claims together from their floors; `used` (per resource) grows by what they take."""
    res = _Resources(capacity, used)
    shares: list[Share | None] = [None] * len(claims)
    events, users = _events(claims, shares)
    rising = [False] * len(claims)

    def settle(i: int, level: float, at_ceiling: bool) -> None:
        claim = claims[i]
        if rising[i]:
            rising[i] = False
            for r, c in claim.coefficients:
                res.change(r, -c * claim.weight, level, -1)
        watts = level * claim.weight
        if at_ceiling or watts >= claim.ceiling - FULL:
            shares[i] = Share(claim.ceiling, True)
        else:
            shares[i] = Share(max(claim.floor, watts), False)

    level = 0.0
    e = 0
    while True:
        full_at, r = res.next_full()
        next_event = events[e][0] if e < len(events) else math.inf
        if full_at == math.inf and next_event == math.inf:
            break
        if full_at <= next_event:
            level = max(level, full_at)
            heapq.heappop(res.heap)
            for i in users[r]:
                if rising[i]:
                    settle(i, level, False)
            continue
        level, kind, i = events[e]
        e += 1
        claim = claims[i]
        if shares[i] is not None:
            continue
        if kind == _STOP:
            settle(i, level, True)
        elif any(res.now(r, level) >= capacity[r] - FULL for r, _ in claim.coefficients):
            settle(i, level, False)  # a resource it needs filled before it could rise
        else:
            rising[i] = True
            for r, c in claim.coefficients:
                res.change(r, c * claim.weight, level, 1)
    for r in range(len(used)):
        used[r] = res.now(r, level)
    return [s if s is not None else Share(claims[i].ceiling, True) for i, s in enumerate(shares)]
