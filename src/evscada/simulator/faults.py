"""Faults a simulated station can suffer, what each looks like on the wire, and plans that schedule them.

A plan is a list of (offset, which stations, fault, duration); the demo has a built-in one, and `evscada simulate
--faults plan.toml` reads one from a file:

    [[fault]]
    at = 30            # seconds after the start
    station = "SIM-0003"
    kind = "ground_failure"
    duration = 60      # seconds until it clears; absent: until cleared by hand

    [[fault]]
    at = 120
    share = 0.5        # half the fleet at once: a reconnect storm
    kind = "connection_drop"
    duration = 10
"""

from __future__ import annotations

import enum
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class FaultKind(enum.StrEnum):
    GROUND_FAILURE = "ground_failure"
    OVER_TEMPERATURE = "over_temperature"
    CONNECTOR_LOCK_FAILURE = "connector_lock_failure"
    POWER_METER_FAILURE = "power_meter_failure"
    POWER_LOSS = "power_loss"  # mains gone; the controller stays up on its backup supply
    CONNECTION_DROP = "connection_drop"  # the link dies without a close frame; charging goes on, messages queue
    REBOOT = "reboot"  # the communication controller reboots: as a drop, then a BootNotification (Watchdog)

    @property
    def hardware(self) -> bool:
        """A fault of the charger itself: its connectors go Faulted and stop charging."""
        return self in SYMPTOMS


@dataclass(frozen=True, slots=True)
class Symptom:
    error_code: str  # 1.6 ChargePointErrorCode; also the 2.0.1 NotifyEvent techCode
    stop_reason: str  # 2.0.1 stoppedReason of a session it ends (1.6 says Other where it has no such word)
    component: str  # 2.0.1 NotifyEvent component and variable that report it
    variable: str
    info: str


SYMPTOMS: dict[FaultKind, Symptom] = {
    FaultKind.GROUND_FAILURE: Symptom("GroundFailure", "GroundFault", "RCD", "Tripped", "residual current detected"),
    FaultKind.OVER_TEMPERATURE: Symptom(
        "HighTemperature", "Other", "TemperatureSensor", "Problem", "power module above 85 C"
    ),
    FaultKind.CONNECTOR_LOCK_FAILURE: Symptom(
        "ConnectorLockFailure", "Other", "ConnectorPlugRetentionLock", "Problem", "plug retention lock jammed"
    ),
    FaultKind.POWER_METER_FAILURE: Symptom(
        "PowerMeterFailure", "Other", "PowerMeter", "Problem", "meter not responding"
    ),
    FaultKind.POWER_LOSS: Symptom("UnderVoltage", "PowerLoss", "ElectricalFeed", "Problem", "mains power lost"),
}


@dataclass(frozen=True, slots=True)
class PlannedFault:
    at: float  # seconds after the fleet starts
    kind: FaultKind
    station: str | None = None  # one station, or
    share: float | None = None  # this share of the fleet (chosen at random when it happens)
    duration: float | None = None  # None: until cleared by hand
    connector: int | None = None  # None: the whole station


class PlanError(ValueError):
    """A fault plan that cannot be run; the message names the entry and the field."""


def parse_plan(data: dict[str, Any]) -> list[PlannedFault]:
    entries = data.get("fault", [])
    if not isinstance(entries, list):
        raise PlanError("a fault plan is a list of [[fault]] tables")
    plan = []
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise PlanError(f"fault {n}: not a table")
        plan.append(_entry(n, entry))
    return sorted(plan, key=lambda f: f.at)


def _entry(n: int, entry: dict[str, Any]) -> PlannedFault:
    unknown = set(entry) - {"at", "kind", "station", "share", "duration", "connector"}
    if unknown:
        raise PlanError(f"fault {n}: unknown field(s) {', '.join(sorted(unknown))}")
    try:
        kind = FaultKind(str(entry.get("kind")))
    except ValueError:
        raise PlanError(f"fault {n}: kind must be one of {', '.join(k.value for k in FaultKind)}") from None
    at, duration, share = entry.get("at", 0), entry.get("duration"), entry.get("share")
    station, connector = entry.get("station"), entry.get("connector")
    if not isinstance(at, int | float) or at < 0:
        raise PlanError(f"fault {n}: at must be seconds >= 0")
    if duration is not None and (not isinstance(duration, int | float) or duration <= 0):
        raise PlanError(f"fault {n}: duration must be seconds > 0")
    if (station is None) == (share is None):
        raise PlanError(f"fault {n}: give either station or share")
    if share is not None and (not isinstance(share, int | float) or not 0 < share <= 1):
        raise PlanError(f"fault {n}: share must be between 0 (excluded) and 1")
    if station is not None and not isinstance(station, str):
        raise PlanError(f"fault {n}: station must be a station id")
    if connector is not None and (not isinstance(connector, int) or connector < 1):
        raise PlanError(f"fault {n}: connector must be a number >= 1")
    return PlannedFault(
        at=float(at),
        kind=kind,
        station=station,
        share=float(share) if share is not None else None,
        duration=float(duration) if duration is not None else None,
        connector=connector,
    )


def load_plan(path: Path) -> list[PlannedFault]:
    try:
        with path.open("rb") as f:
            return parse_plan(tomllib.load(f))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PlanError(f"{path}: {exc}") from None
