"""What a simulated station is made of: its spec, its clockwork, its connectors and the sessions on them."""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from evscada.simulator.faults import FaultKind
from evscada.simulator.vehicles import NOMINAL_AC_VOLTS, EvSpec


class Supply(enum.StrEnum):
    AC = "AC"
    DC = "DC"


DC_NOMINAL_VOLTS = 400.0  # what a DC station counts an ampere limit at when no vehicle tells it better


@dataclass(frozen=True, slots=True)
class StationSpec:
    """What a station is, and the vehicles behind its tokens. Every connector can give `max_power_w` by itself.

    AC: 230 V per phase on `phases` (1 or 3) phases, at most `max_current_a` per phase (7.4 kW: 1 x 32 A,
    11 kW: 3 x 16 A, 22 kW: 3 x 32 A). DC: at the vehicle's battery voltage, at most `max_current_a` at the output.
    """

    station_id: str
    version: str  # "1.6" or "2.0.1"
    vendor: str = "evscada-sim"
    model: str = "AC-22"
    firmware: str = "1.0.0"
    serial: str | None = None
    connectors: int = 1
    max_power_w: float = 22_000.0
    phases: int = 3  # AC only
    password: str | None = None
    tokens: tuple[str, ...] = ()
    supply: Supply = Supply.AC
    max_current_a: float = 32.0
    vehicles: Mapping[str, EvSpec] = field(default_factory=dict)  # by token; other tokens bring one of CARS
    tls_trust: str | None = None  # over wss://: the PEM of the CA it trusts for the CSMS (None: the system's)
    client_certificate: tuple[str, str] | None = None  # over wss://: (chain PEM, key PEM) it presents (profile 3)

    def __post_init__(self) -> None:
        if self.supply is Supply.AC and self.phases not in (1, 2, 3):
            raise ValueError(f"{self.station_id}: an AC station has 1 to 3 phases")
        if self.max_power_w <= 0 or self.max_current_a <= 0:
            raise ValueError(f"{self.station_id}: its maximum power and current must be positive")

    @property
    def supply_phases(self) -> int:
        """The AC phases it supplies, 0 for DC (as 2.0.1's SupplyPhases counts them)."""
        return self.phases if self.supply is Supply.AC else 0

    @property
    def ceiling_w(self) -> float:
        """The most one connector gives, at nominal voltage: its power, or its current if that is less."""
        return min(self.max_power_w, self.max_current_a * self.nominal_volts * (self.supply_phases or 1))

    @property
    def nominal_volts(self) -> float:
        """What an ampere of a charging limit counts at: 230 V per phase on AC, a typical battery on DC."""
        return NOMINAL_AC_VOLTS if self.supply is Supply.AC else DC_NOMINAL_VOLTS


def ac_station(station_id: str, version: str, *, phases: int, amps: float, **fields: Any) -> StationSpec:
    """An AC station of `phases` x `amps` at 230 V (7.4 kW: 1 x 32 A; 11 kW: 3 x 16 A; 22 kW: 3 x 32 A)."""
    power = NOMINAL_AC_VOLTS * amps * phases  # the current limits it; the rated figure is this, rounded
    return StationSpec(station_id, version, max_power_w=power, phases=phases, max_current_a=amps, **fields)


def dc_station(station_id: str, version: str, *, kw: float, amps: float = 500.0, **fields: Any) -> StationSpec:
    """A DC station of `kw` kW, at most `amps` at its output (at 400 V, 500 A carry 200 kW)."""
    return StationSpec(station_id, version, max_power_w=kw * 1e3, supply=Supply.DC, max_current_a=amps, **fields)


@dataclass(frozen=True, slots=True)
class Leave:
    """Why the station ends a connection: after this pause it reconnects; abort: without a close frame."""

    pause: float
    abort: bool = False


@dataclass(frozen=True, slots=True)
class Timing:
    """Demo time runs fast: minutes instead of hours."""

    meter_interval: float = 5.0
    idle_seconds: tuple[float, float] = (5.0, 30.0)
    session_seconds: tuple[float, float] = (60.0, 180.0)
    tick: float = 1.0  # seconds between the station's looks at its limits and its vehicles (at most)
    # One real second charges this many seconds' energy. Anything but 1 fast-forwards batteries and meters for
    # tests: energy then runs time_scale times ahead of power x the (real) timestamps.
    time_scale: float = 1.0
    reboot_seconds: float = 3.0  # from a reset to the next connection
    meters_per_session: int | None = None  # a session ends after this many samples (None: when its driver leaves)
    sessions: int | None = None  # the station's drivers stop after this many sessions (None: they never do)


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample: power = voltage x current x phases (AC, per phase) or voltage x current (DC)."""

    energy_wh: float
    power_w: float
    current_a: float
    voltage_v: float
    soc: float
    phases: int  # AC phases carrying the current (the others read nothing); DC: 1
    dc: bool = False


class Trigger(enum.Enum):
    """Messages the CSMS may ask for (TriggerMessage), whatever the version calls them."""

    BOOT = "boot"
    HEARTBEAT = "heartbeat"
    STATUS = "status"
    METER = "meter"
    FIRMWARE = "firmware"
    DIAGNOSTICS = "diagnostics"  # 1.6 DiagnosticsStatusNotification, 2.0.1 LogStatusNotification
    SIGN_CERTIFICATE = "sign_certificate"  # a new CSR (1.6 SignChargePointCertificate, 2.0.1 ...ChargingStation...)


class _Clock:
    """The last whole second, formatted once: thousands of stations ask for the time many times a second."""

    second, text = 0, ""


def now_iso(now: float | None = None) -> str:
    """UTC now (or then, in seconds since the epoch) with milliseconds, e.g. 2026-11-25T08:00:00.123Z."""
    now = time.time() if now is None else now
    second = int(now)
    if second != _Clock.second:
        _Clock.second, _Clock.text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_Clock.text}.{int((now - second) * 1000):03d}Z"


@dataclass(slots=True)
class Session:
    token: str
    remote_start_id: int | None = None
    reservation_id: int | None = None  # the reservation its holder used
    held: Reservation | None = None  # that reservation, given back if the start is refused after all
    transaction: str | None = None  # known once the CSMS (1.6) or the station (2.0.1) has numbered it
    stop_reason: str | None = None
    reading: Reading | None = None
    charging_state: str = "Charging"  # or SuspendedEVSE (a limit of 0), SuspendedEV (the vehicle takes nothing)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.stop.set()


@dataclass(slots=True)
class Reservation:
    reservation_id: int
    token: str
    expires_at: datetime
    expiry: asyncio.Task[None] | None = None


@dataclass(slots=True)
class ConnectorState:
    energy_register_wh: float = field(default_factory=lambda: random.uniform(1e5, 5e6))
    operative: bool = True
    session: Session | None = None
    reservation: Reservation | None = None
    fault: FaultKind | None = None  # a hardware fault the connector suffers now

    def free_for(self, token: str | None) -> bool:
        """Operative, healthy, not charging, and not reserved for someone else (None: for anyone)."""
        reserved_for_other = self.reservation is not None and self.reservation.token != token
        return self.operative and self.fault is None and self.session is None and not reserved_for_other

    def idle_status(self) -> str:
        if self.fault is not None:
            return "Faulted"
        if not self.operative:
            return "Unavailable"
        return "Reserved" if self.reservation is not None else "Available"
