"""A version-neutral simulated station: vehicles arrive, authorize, charge along a plausible curve, and leave."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

log = logging.getLogger(__name__)


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
class Timing:
    """Demo time runs fast: minutes instead of hours."""

    meter_interval: float = 5.0
    idle_seconds: tuple[float, float] = (5.0, 30.0)
    session_seconds: tuple[float, float] = (60.0, 180.0)
    time_scale: float = 60.0  # one real second simulates this many seconds of charging


@dataclass(frozen=True, slots=True)
class Reading:
    energy_wh: float
    power_w: float
    current_a: float
    voltage_v: float
    soc: float
    phases: int


class Link(Protocol):
    """What a station says, in OCPP terms; one implementation per version."""

    async def boot(self, spec: StationSpec) -> tuple[str, int]: ...

    async def heartbeat(self) -> None: ...

    async def status(self, connector: int, status: str) -> None: ...

    async def authorize(self, token: str) -> str: ...

    async def start_transaction(self, connector: int, token: str, meter_wh: float) -> tuple[str, str]: ...

    async def meter(self, connector: int, transaction: str, reading: Reading) -> None: ...

    async def stop_transaction(
        self, connector: int, transaction: str, token: str, reading: Reading, reason: str
    ) -> None: ...


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
class ConnectorState:
    energy_register_wh: float = field(default_factory=lambda: random.uniform(1e5, 5e6))


class SimulatedStation:
    def __init__(self, spec: StationSpec, link: Link, timing: Timing) -> None:
        self.spec = spec
        self.link = link
        self.timing = timing
        self.connectors = {n: ConnectorState() for n in range(1, spec.connectors + 1)}
        self.sessions_completed = 0

    async def run(self) -> None:
        status, interval = await self.link.boot(self.spec)
        while status != "Accepted":
            await asyncio.sleep(min(interval or 30, 30))
            status, interval = await self.link.boot(self.spec)
        for n in self.connectors:
            await self.link.status(n, "Available")
        async with asyncio.TaskGroup() as group:
            group.create_task(self._heartbeats(interval))
            for n in self.connectors:
                group.create_task(self._charge_forever(n))

    async def _heartbeats(self, interval: int) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.link.heartbeat()

    async def _charge_forever(self, connector: int) -> None:
        while True:
            await asyncio.sleep(random.uniform(*self.timing.idle_seconds))
            if self.spec.tokens:
                await self.charge_once(connector, random.choice(self.spec.tokens))

    async def charge_once(self, connector: int, token: str) -> None:
        state = self.connectors[connector]
        await self.link.status(connector, "Preparing")
        if await self.link.authorize(token) != "Accepted":
            await self.link.status(connector, "Available")
            return
        transaction, accepted = await self.link.start_transaction(connector, token, state.energy_register_wh)
        if accepted != "Accepted":
            await self.link.stop_transaction(
                connector, transaction, token, self._reading(state, Vehicle(1, 0, 0), 0), "DeAuthorized"
            )
            await self.link.status(connector, "Available")
            return
        await self.link.status(connector, "Charging")
        vehicle = Vehicle(
            battery_wh=random.choice([40e3, 60e3, 80e3, 300e3]),
            soc=random.uniform(10, 60),
            max_power_w=random.choice([7.4e3, 11e3, 22e3, 50e3, 150e3]),
        )
        duration = random.uniform(*self.timing.session_seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration
        reading = self._reading(state, vehicle, 0.0)
        while loop.time() < deadline and vehicle.soc < 100.0:
            await asyncio.sleep(self.timing.meter_interval)
            power = vehicle.accept(self.spec.max_power_w)
            energy = power * self.timing.meter_interval * self.timing.time_scale / 3600.0
            state.energy_register_wh += energy
            vehicle.soc = min(100.0, vehicle.soc + 100.0 * energy / vehicle.battery_wh)
            reading = self._reading(state, vehicle, power)
            await self.link.meter(connector, transaction, reading)
        await self.link.status(connector, "Finishing")
        await self.link.stop_transaction(connector, transaction, token, reading, "EVDisconnected")
        await self.link.status(connector, "Available")
        self.sessions_completed += 1

    def _reading(self, state: ConnectorState, vehicle: Vehicle, power_w: float) -> Reading:
        voltage = random.gauss(230.0, 1.5)
        current = power_w / (voltage * self.spec.phases) if power_w else 0.0
        return Reading(
            energy_wh=round(state.energy_register_wh, 1),
            power_w=round(power_w, 1),
            current_a=round(current, 2),
            voltage_v=round(voltage, 1),
            soc=round(vehicle.soc, 1),
            phases=self.spec.phases,
        )


async def cancel_quietly(task: asyncio.Task[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
