"""The vehicles that charge at simulated stations: battery, what they take on AC and on DC, and when they leave.

Figures are the makers' published ones, rounded; a token without a vehicle of its own brings one of `CARS`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

NOMINAL_AC_VOLTS = 230.0  # per phase
TAPER_FROM_SOC = 80.0  # constant power up to here,
TAPER_FLOOR = 0.05  # then linearly down to this share of the peak at 100 %


@dataclass(frozen=True, slots=True)
class EvSpec:
    name: str
    battery_wh: float  # usable capacity
    ac_max_w: float = 11_000.0  # the on-board charger
    ac_phases: int = 3  # phases the on-board charger uses: a one-phase car draws one phase anywhere
    dc_max_w: float = 50_000.0  # the battery's peak; on AC too it takes no more than this at its SoC
    dc_volts: float = 400.0  # battery class: 400 V or 800 V (buses: 600-700 V)
    arrival_soc: tuple[float, float] = (15.0, 60.0)  # drawn at each arrival
    target_soc: float = 100.0  # it draws nothing more once there
    departure: time | None = None  # time of day it leaves (aware; naive is UTC); None: the driver's own timing

    def __post_init__(self) -> None:
        if self.battery_wh <= 0 or self.ac_phases not in (1, 2, 3) or not 0 < self.target_soc <= 100:
            raise ValueError(f"{self.name}: battery > 0 Wh, 1-3 AC phases, a target SoC in (0, 100] %")

    @property
    def ac_max_a(self) -> float:
        """Per phase, what the on-board charger draws at most."""
        return self.ac_max_w / (NOMINAL_AC_VOLTS * self.ac_phases)

    def accepts_w(self, soc: float) -> float:
        """The battery's charging curve: its peak up to 80 % SoC, then a linear taper to 5 % of it at 100 %."""
        if soc <= TAPER_FROM_SOC:
            return self.dc_max_w
        share = 1.0 - (1.0 - TAPER_FLOOR) * min(1.0, (soc - TAPER_FROM_SOC) / (100.0 - TAPER_FROM_SOC))
        return self.dc_max_w * share

    def battery_volts(self, soc: float) -> float:
        """A lithium-ion pack's voltage rises with its charge: 92 % of nominal when empty, 106 % when full."""
        return self.dc_volts * (0.92 + 0.14 * soc / 100.0)

    def next_departure(self, now: datetime) -> datetime | None:
        """When it leaves next (after `now`, which is aware), or None if it has no timetable."""
        if self.departure is None:
            return None
        zone = self.departure.tzinfo or UTC
        local = now.astimezone(zone)
        leaves = datetime.combine(local.date(), self.departure.replace(tzinfo=None), tzinfo=zone)
        return leaves if leaves > local else leaves + timedelta(days=1)


# Cars of 40-100 kWh; two of them charge on one phase only (a 7.4 kW or 6.6 kW on-board charger).
CARS = (
    EvSpec("VW ID.4", 77e3, ac_max_w=11e3, dc_max_w=135e3),
    EvSpec("Tesla Model 3", 75e3, ac_max_w=11e3, dc_max_w=170e3),
    EvSpec("Hyundai Ioniq 5", 74e3, ac_max_w=11e3, dc_max_w=220e3, dc_volts=800.0),
    EvSpec("Renault Zoe", 52e3, ac_max_w=22e3, dc_max_w=50e3),
    EvSpec("Nissan Leaf", 40e3, ac_max_w=6.6e3, ac_phases=1, dc_max_w=50e3),
    EvSpec("Opel Corsa-e", 46e3, ac_max_w=7.4e3, ac_phases=1, dc_max_w=100e3),
    EvSpec("Kia EV6", 77e3, ac_max_w=11e3, dc_max_w=230e3, dc_volts=800.0),
    EvSpec("Porsche Taycan", 93e3, ac_max_w=22e3, dc_max_w=270e3, dc_volts=800.0),
)


def any_car() -> EvSpec:
    return random.choice(CARS)
