"""A vehicle's charging curve: full power up to the taper point, then falling linearly with the SoC.

Above `taper_from_pct` the power a vehicle accepts falls linearly to `end_ratio` of its maximum at 100 %. Under
a cap, it charges at the cap while the curve allows, then follows the curve, so the SoC approaches its asymptote
exponentially: both phases have closed forms, so a slot costs a few operations, not a simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FULL_PCT = 100.0


@dataclass(frozen=True, slots=True)
class ChargeCurve:
    capacity_wh: float
    max_w: float
    taper_from_pct: float = 80.0
    end_ratio: float = 0.1  # the power it accepts at 100 %, as a fraction of max_w

    @property
    def _slope(self) -> float:
        """W less per % above the taper point (0: no taper)."""
        if self.taper_from_pct >= FULL_PCT:
            return 0.0
        return self.max_w * (1 - self.end_ratio) / (FULL_PCT - self.taper_from_pct)

    def power_at(self, soc: float) -> float:
        """The most it accepts at a SoC."""
        if soc >= FULL_PCT:
            return 0.0
        return self.max_w - self._slope * max(0.0, soc - self.taper_from_pct)

    def energy_to(self, soc: float, target: float) -> float:
        """Wh from one SoC to another (0 when already there)."""
        return max(0.0, min(target, FULL_PCT) - soc) * self.capacity_wh / FULL_PCT

    def soc_after(self, soc: float, cap_w: float, hours: float) -> float:
        """The SoC after charging for `hours` under a cap (at the lower of the cap and the curve)."""
        if soc >= FULL_PCT or cap_w <= 0 or hours <= 0:
            return soc
        cap = min(cap_w, self.max_w)
        slope = self._slope
        knee = FULL_PCT if slope == 0 else min(FULL_PCT, self.taper_from_pct + (self.max_w - cap) / slope)
        rate = FULL_PCT * cap / self.capacity_wh  # % per hour at the cap
        if soc < knee:
            needed = (knee - soc) / rate
            if needed >= hours:
                return soc + rate * hours
            soc, hours = knee, hours - needed
        if slope == 0 or soc >= FULL_PCT:
            return min(soc, FULL_PCT)
        k = FULL_PCT * slope / self.capacity_wh
        asymptote = self.taper_from_pct + self.max_w / slope
        return min(FULL_PCT, asymptote - (asymptote - soc) * math.exp(-k * hours))

    def hours_to(self, soc: float, target: float) -> float:
        """The shortest time from one SoC to another at full power (inf when the curve never gets there)."""
        target = min(target, FULL_PCT)
        if soc >= target:
            return 0.0
        knee = min(self.taper_from_pct, target)
        hours = max(0.0, knee - soc) * self.capacity_wh / (FULL_PCT * self.max_w)
        start = max(soc, knee)
        slope = self._slope
        if target <= start:
            return hours
        if slope == 0:
            return hours + (target - start) * self.capacity_wh / (FULL_PCT * self.max_w)
        asymptote = self.taper_from_pct + self.max_w / slope
        if target >= asymptote:
            return math.inf
        return hours + math.log((asymptote - start) / (asymptote - target)) * self.capacity_wh / (FULL_PCT * slope)

    def cap_for(self, soc: float, target: float, hours: float) -> float:
        """The lowest cap that takes it from `soc` to `target` in `hours` (max_w when even that falls short)."""
        if soc >= target:
            return 0.0
        low = self.energy_to(soc, target) / hours
        if self.soc_after(soc, low, hours) >= target - 1e-9:
            return low
        high = self.max_w
        if self.soc_after(soc, high, hours) < target:
            return high
        for _ in range(40):  # above the knee a higher cap only shortens the flat part: bisect
            middle = (low + high) / 2
            low, high = (middle, high) if self.soc_after(soc, middle, hours) < target else (low, middle)
        return high
