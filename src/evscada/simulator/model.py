"""What a simulated station is made of: its spec, its clockwork, its connectors and the sessions on them."""

from __future__ import annotations

import asyncio
import enum
import random
import time
from dataclasses import dataclass, field
from datetime import datetime

from evscada.simulator.faults import FaultKind


@dataclass(frozen=True, slots=True)
class StationSpec:
    station_id: str
    version: str  # "1.6" or "2.0.1"
    vendor: str = "evscada-sim"
    model: str = "AC-22"
    firmware: str = "1.0.0"
    serial: str | None = None
    connectors: int = 1
    max_power_w: float = 22_000.0
    phases: int = 3
    password: str | None = None
    tokens: tuple[str, ...] = ()


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
    time_scale: float = 60.0  # one real second simulates this many seconds of charging
    reboot_seconds: float = 3.0  # from a reset to the next connection
    meters_per_session: int | None = None  # a session ends after this many samples (None: when the car is full)
    sessions: int | None = None  # the station's drivers stop after this many sessions (None: they never do)


@dataclass(frozen=True, slots=True)
class Reading:
    energy_wh: float
    power_w: float
    current_a: float
    voltage_v: float
    soc: float
    phases: int


class Trigger(enum.Enum):
    """Messages the CSMS may ask for (TriggerMessage), whatever the version calls them."""

    BOOT = "boot"
    HEARTBEAT = "heartbeat"
    STATUS = "status"
    METER = "meter"
    FIRMWARE = "firmware"
    DIAGNOSTICS = "diagnostics"  # 1.6 DiagnosticsStatusNotification, 2.0.1 LogStatusNotification


class _Clock:
    """The last whole second, formatted once: thousands of stations ask for the time many times a second."""

    second, text = 0, ""


def now_iso() -> str:
    """UTC now with milliseconds, e.g. 2026-11-25T08:00:00.123Z."""
    now = time.time()
    second = int(now)
    if second != _Clock.second:
        _Clock.second, _Clock.text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_Clock.text}.{int((now - second) * 1000):03d}Z"


@dataclass(slots=True)
class Vehicle:
    battery_wh: float
    soc: float
    max_power_w: float

    def accept(self, offered_w: float) -> float:
        """Constant power to 80 %, then a taper to a trickle at 100 %."""
        limit = min(offered_w, self.max_power_w)
        if self.soc >= 100.0:
            return 0.0
        if self.soc > 80.0:
            limit *= max(0.1, (100.0 - self.soc) / 20.0)
        return limit


@dataclass(slots=True)
class Session:
    token: str
    remote_start_id: int | None = None
    reservation_id: int | None = None  # the reservation its holder used
    held: Reservation | None = None  # that reservation, given back if the start is refused after all
    transaction: str | None = None  # known once the CSMS (1.6) or the station (2.0.1) has numbered it
    stop_reason: str | None = None
    reading: Reading | None = None
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
