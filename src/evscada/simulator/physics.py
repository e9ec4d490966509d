"""How power flows from a simulated station into a vehicle, one tick at a time.

The station offers what its spec and the charging limits in force allow; the vehicle takes what its on-board
charger (AC, on its own phases) or its battery (DC, at the battery's voltage) accepts at its SoC. What the meter
reads agrees by construction: power = voltage x current x phases from the rounded values reported, energy the
integral of that power over each tick, SoC the energy over the battery's capacity (charging losses are left out).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from evscada.simulator.charging_limits import Cap
from evscada.simulator.model import StationSpec, Supply
from evscada.simulator.vehicles import NOMINAL_AC_VOLTS, EvSpec

SOC_STEP = 0.1  # the SoC is reported to this; a battery this close to its target is there
CHARGING, SUSPENDED_EVSE, SUSPENDED_EV = "Charging", "SuspendedEVSE", "SuspendedEV"


@dataclass(slots=True)
class Battery:
    """A vehicle during one session."""

    ev: EvSpec
    soc: float
    delivered_wh: float = 0.0

    @property
    def full(self) -> bool:
        """At its target: it takes nothing more."""
        return self.soc >= self.ev.target_soc - SOC_STEP / 2


@dataclass(frozen=True, slots=True)
class Flow:
    """What flows now: power_w = voltage_v x current_a x phases (DC: one 'phase')."""

    power_w: float
    current_a: float
    voltage_v: float
    phases: int
    dc: bool


def _closed(cap: Cap) -> bool:
    """A limit of 0 (W or A) holds the charge."""
    return (cap.watts is not None and cap.watts <= 0) or (cap.amps is not None and cap.amps <= 0)


def _flowing(volts: float, amps: float, phases: int, dc: bool) -> Flow:
    amps = math.floor(max(0.0, amps) * 100) / 100  # down to the 0.01 A reported, so that no limit is exceeded
    return Flow(round(volts * amps * phases, 1), amps, volts, phases, dc)


def flow(spec: StationSpec, battery: Battery, cap: Cap) -> Flow:
    """The most that the station, the limits in force and the vehicle all allow now."""
    ev, soc = battery.ev, battery.soc
    watts = 0.0 if battery.full or _closed(cap) else min(spec.max_power_w, ev.accepts_w(soc))
    if cap.watts is not None:
        watts = min(watts, cap.watts)
    amps = spec.max_current_a if cap.amps is None else min(spec.max_current_a, cap.amps)
    if spec.supply is Supply.DC:
        volts = round(ev.battery_volts(soc), 1)
        return _flowing(volts, min(amps, watts / volts), 1, dc=True)
    volts = round(random.gauss(NOMINAL_AC_VOLTS, 1.5), 1)  # the grid's, a little different at every tick
    phases = min(spec.phases, ev.ac_phases, cap.phases or 3)  # a one-phase car draws one phase anywhere
    return _flowing(volts, min(amps, ev.ac_max_a, watts / (volts * phases)), phases, dc=False)


def charge(spec: StationSpec, battery: Battery, cap: Cap, seconds: float) -> tuple[Flow, float]:
    """Charge for `seconds` (of simulated time): what flowed, and the energy in Wh the battery took."""
    now = flow(spec, battery, cap)
    energy = now.power_w * seconds / 3600.0
    room = max(0.0, battery.ev.battery_wh * (battery.ev.target_soc - battery.soc) / 100.0)
    if energy > room:  # the last bit to its target takes less than the whole tick: less power, as a BMS does
        now = _flowing(now.voltage_v, room * 3600.0 / seconds / (now.voltage_v * now.phases), now.phases, now.dc)
        energy = now.power_w * seconds / 3600.0
    battery.delivered_wh += energy
    battery.soc = min(battery.ev.target_soc, battery.soc + 100.0 * energy / battery.ev.battery_wh)
    return now, energy


def charging_state(cap: Cap, now: Flow) -> str:
    """OCPP's word for it: held by the station (a limit of 0), by the vehicle (it takes nothing), or charging."""
    if _closed(cap):
        return SUSPENDED_EVSE
    return CHARGING if now.power_w > 0 else SUSPENDED_EV
