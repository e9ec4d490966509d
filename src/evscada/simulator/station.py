"""A version-neutral simulated station: vehicles arrive, authorize, charge along a plausible curve, and leave.

It also obeys the CSMS: remote starts and stops, availability, resets, reservations and triggered messages.
The version's link maps each OCPP command to a method here and the answer back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from evscada.simulator.config import Change, Configuration, Setting
from evscada.simulator.local_list import LocalList
from evscada.simulator.model import (
    ConnectorState,
    Reading,
    Reservation,
    Session,
    StationSpec,
    Timing,
    Trigger,
    Vehicle,
    now_iso,
)

# The station's words, importable from here as before.
__all__ = [
    "Link",
    "Reading",
    "SimulatedStation",
    "StationSpec",
    "Timing",
    "Trigger",
    "cancel_quietly",
    "now_iso",
]

log = logging.getLogger(__name__)

# Sessions get this long to end before a reset reboots the station anyway.
RESET_GRACE_SECONDS = 10.0


class Link(Protocol):
    """What a station says, in OCPP terms; one implementation per version."""

    def attach(self, station: SimulatedStation) -> None: ...

    async def boot(self, spec: StationSpec, reason: str = "PowerUp") -> tuple[str, int]: ...

    async def heartbeat(self) -> None: ...

    async def status(self, connector: int, status: str) -> None: ...

    async def authorize(self, token: str) -> str: ...

    async def start_transaction(
        self,
        connector: int,
        token: str,
        meter_wh: float,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> tuple[str, str]: ...

    async def meter(self, connector: int, transaction: str | None, reading: Reading) -> None: ...

    async def stop_transaction(
        self, connector: int, transaction: str, token: str, reading: Reading, reason: str
    ) -> None: ...

    async def firmware_idle(self) -> None: ...

    async def diagnostics_idle(self) -> None: ...

    async def reservation_expired(self, reservation_id: int) -> None: ...


class _Reboot(Exception):
    """Ends `run` after a reset; the caller reconnects and the station boots again."""


class SimulatedStation:
    def __init__(self, spec: StationSpec, link: Link, timing: Timing) -> None:
        self.spec = spec
        self.timing = timing
        self.connectors = {n: ConnectorState() for n in range(1, spec.connectors + 1)}
        self.config = Configuration(connectors=spec.connectors, meter_interval=timing.meter_interval)
        self.local_list = LocalList()
        self.sessions_completed = 0
        self._group: asyncio.TaskGroup | None = None  # owns every task while the station runs
        self._reboot = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        self._boot_reason = "PowerUp"
        self.attach(link)

    def attach(self, link: Link) -> None:
        """Speak over this connection from now on (a new one after each reconnect)."""
        self.link = link
        link.attach(self)

    async def run(self) -> None:
        """Boot, then charge and answer until cancelled; returns after a reset (the caller reconnects)."""
        self._reboot.clear()
        await self._boot()
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                group.create_task(self._heartbeats())
                for n in self.connectors:
                    group.create_task(self._charge_forever(n))
                await self._reboot.wait()
                raise _Reboot
        except* _Reboot:
            log.info("%s: rebooting after a reset", self.spec.station_id)
            self._boot_reason = "RemoteReset"
        finally:
            self._group = None

    async def _boot(self) -> None:
        status, interval = await self.link.boot(self.spec, self._boot_reason)
        while status != "Accepted":
            await asyncio.sleep(min(interval or 30, 30))
            status, interval = await self.link.boot(self.spec, self._boot_reason)
        if interval > 0:  # the CSMS sets the heartbeat interval at boot
            self.config.set_number("HeartbeatInterval", interval)
        for state in self.connectors.values():  # whatever ran before the reboot ended with it
            state.session = None
            state.reservation = None
        for n, state in self.connectors.items():
            await self.link.status(n, state.idle_status())

    async def _heartbeats(self) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.config.number("HeartbeatInterval")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval if interval > 0 else None):
                    await self._heartbeat_changed.wait()
                continue  # a new interval: wait that long from now
            await self.link.heartbeat()

    def change_setting(self, setting: Setting | None, value: str) -> Change:
        """Change a setting; a new heartbeat interval takes effect at once, a meter interval at the next sample."""
        change = self.config.change(setting, value)
        if change is Change.ACCEPTED and setting is not None and setting.key == "HeartbeatInterval":
            self._heartbeat_changed.set()
        return change

    async def _charge_forever(self, connector: int) -> None:
        while True:
            await asyncio.sleep(random.uniform(*self.timing.idle_seconds))
            if self.spec.tokens and self.connectors[connector].free_for(None):
                await self.charge_once(connector, random.choice(self.spec.tokens))

    # Sessions

    async def charge_once(self, connector: int, token: str) -> None:
        """A driver arrives, presents a token, and charges until full, out of time, or stopped."""
        session = self._claim(connector, token)
        if session is not None:
            await self._session(connector, session, authorize=True)

    def claim(self, connector: int | None, token: str, remote_start_id: int | None = None) -> int | None:
        """Hold a connector for a remote start (None: the first free one); `start_session` then starts it."""
        if self._group is None:
            return None
        candidates = [connector] if connector is not None else list(self.connectors)
        for n in candidates:
            if self._claim(n, token, remote_start_id) is not None:
                return n
        return None

    def start_session(self, connector: int) -> None:
        """Charge on a connector claimed before, in a task the station owns."""
        session = self.connectors[connector].session
        if session is None:
            return
        authorize = self.config.flag("AuthorizeRemoteTxRequests")
        if not self._spawn(self._session(connector, session, authorize=authorize), f"session-{connector}"):
            self.connectors[connector].session = None

    def _claim(self, connector: int, token: str, remote_start_id: int | None = None) -> Session | None:
        state = self.connectors.get(connector)
        if state is None or not state.free_for(token):
            return None
        held = state.reservation.reservation_id if state.reservation is not None else None
        state.reservation = None  # its holder has arrived
        state.session = Session(token=token, remote_start_id=remote_start_id, reservation_id=held)
        return state.session

    def find_transaction(self, transaction: str) -> Session | None:
        return next(
            (s.session for s in self.connectors.values() if s.session and s.session.transaction == transaction),
            None,
        )

    def stop_session(self, session: Session, reason: str) -> None:
        session.request_stop(reason)

    async def _session(self, connector: int, session: Session, *, authorize: bool) -> None:
        state = self.connectors[connector]
        try:
            await self._transact(connector, session, authorize=authorize)
        finally:
            state.session = None
            session.done.set()
        await self.link.status(connector, state.idle_status())

    async def _transact(self, connector: int, session: Session, *, authorize: bool) -> None:
        state = self.connectors[connector]
        token = session.token
        await self.link.status(connector, "Preparing")
        if authorize and await self.link.authorize(token) != "Accepted":
            return
        transaction, accepted = await self.link.start_transaction(
            connector, token, state.energy_register_wh, session.remote_start_id, session.reservation_id
        )
        session.transaction = transaction
        if accepted != "Accepted":
            reading = self._reading(state, Vehicle(1, 0, 0), 0)
            await self.link.stop_transaction(connector, transaction, token, reading, "DeAuthorized")
            return
        await self.link.status(connector, "Charging")
        reading = await self._deliver(connector, session)
        await self.link.status(connector, "Finishing")
        await self.link.stop_transaction(
            connector, transaction, token, reading, session.stop_reason or "EVDisconnected"
        )
        self.sessions_completed += 1

    async def _deliver(self, connector: int, session: Session) -> Reading:
        """Meter the charge until the vehicle is full, its time is up, or someone stops the session."""
        state = self.connectors[connector]
        vehicle = Vehicle(
            battery_wh=random.choice([40e3, 60e3, 80e3, 300e3]),
            soc=random.uniform(10, 60),
            max_power_w=random.choice([7.4e3, 11e3, 22e3, 50e3, 150e3]),
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + random.uniform(*self.timing.session_seconds)
        session.reading = self._reading(state, vehicle, 0.0)
        while loop.time() < deadline and vehicle.soc < 100.0:
            interval = max(self.config.number("MeterValueSampleInterval"), 0.01)
            if await _stopped(session, interval):
                break
            power = vehicle.accept(self.spec.max_power_w)
            energy = power * interval * self.timing.time_scale / 3600.0
            state.energy_register_wh += energy
            vehicle.soc = min(100.0, vehicle.soc + 100.0 * energy / vehicle.battery_wh)
            session.reading = self._reading(state, vehicle, power)
            await self.link.meter(connector, session.transaction, session.reading)
        return session.reading

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

    # Commands that change the station

    def targets(self, connector: int | None) -> list[int] | None:
        """The connectors a command means: 0 or None is the whole station; None if there is no such connector."""
        if not connector:
            return list(self.connectors)
        return [connector] if connector in self.connectors else None

    def change_availability(self, connectors: list[int], *, operative: bool) -> str:
        """Accepted; Scheduled when a session runs on one of them (the change lands when it ends)."""
        for n in connectors:
            self.connectors[n].operative = operative
        busy = any(self.connectors[n].session is not None for n in connectors)
        return "Scheduled" if busy else "Accepted"

    def report(self, connectors: Iterable[int]) -> None:
        """Send the status of idle connectors (a running session reports its own at its end)."""
        idle = [n for n in connectors if self.connectors[n].session is None]
        self._spawn(self._report(idle), "status")

    async def _report(self, connectors: list[int]) -> None:
        for n in connectors:
            await self.link.status(n, self.connectors[n].idle_status())

    def reset(self, reason: str) -> None:
        """End every session with this stop reason, then reboot."""
        self._spawn(self._reset(reason), "reset")

    async def _reset(self, reason: str) -> None:
        sessions = [s.session for s in self.connectors.values() if s.session is not None]
        for session in sessions:
            session.request_stop(reason)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RESET_GRACE_SECONDS):
                for session in sessions:
                    await session.done.wait()
        self._reboot.set()

    def reserve(self, reservation_id: int, connector: int | None, token: str, expires_at: datetime) -> str:
        """Accepted, Occupied, Unavailable or Rejected; connector None or 0: any free one."""
        self.cancel_reservation(reservation_id)  # the same id again replaces it
        candidates = self.targets(connector)
        if candidates is None or self._group is None:
            return "Rejected"
        if not any(self.connectors[n].operative for n in candidates):
            return "Unavailable"
        free = [n for n in candidates if self.connectors[n].free_for(None)]
        if not free:
            return "Occupied"
        reservation = Reservation(reservation_id, token, expires_at)
        reservation.expiry = self._group.create_task(self._expire(free[0], reservation))
        self.connectors[free[0]].reservation = reservation
        return "Accepted"

    def reserved_connector(self, reservation_id: int) -> int | None:
        return next(
            (n for n, s in self.connectors.items() if s.reservation and s.reservation.reservation_id == reservation_id),
            None,
        )

    def cancel_reservation(self, reservation_id: int) -> int | None:
        """The connector it held, now free; None if there was no such reservation."""
        connector = self.reserved_connector(reservation_id)
        if connector is not None:
            reservation = self.connectors[connector].reservation
            self.connectors[connector].reservation = None
            if reservation is not None and reservation.expiry is not None:
                reservation.expiry.cancel()
        return connector

    async def _expire(self, connector: int, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expires_at - datetime.now(UTC)).total_seconds()))
        state = self.connectors[connector]
        if state.reservation is reservation:
            state.reservation = None
            log.info("%s: reservation %s expired", self.spec.station_id, reservation.reservation_id)
            await self.link.reservation_expired(reservation.reservation_id)
            if state.session is None:
                await self.link.status(connector, state.idle_status())

    def trigger(self, message: Trigger, connector: int | None) -> None:
        self._spawn(self._send_triggered(message, connector), f"trigger-{message.value}")

    async def _send_triggered(self, message: Trigger, connector: int | None) -> None:
        connectors = self.targets(connector) or []
        if message is Trigger.BOOT:
            await self.link.boot(self.spec, "Triggered")
        elif message is Trigger.HEARTBEAT:
            await self.link.heartbeat()
        elif message is Trigger.STATUS:
            for n in connectors:
                await self.link.status(n, self._status(n))
        elif message is Trigger.METER:
            for n in connectors:
                await self._meter_now(n)
        elif message is Trigger.FIRMWARE:
            await self.link.firmware_idle()
        elif message is Trigger.DIAGNOSTICS:
            await self.link.diagnostics_idle()

    def _status(self, connector: int) -> str:
        state = self.connectors[connector]
        return "Charging" if state.session is not None else state.idle_status()

    async def _meter_now(self, connector: int) -> None:
        state = self.connectors[connector]
        session = state.session
        reading = session.reading if session is not None else None
        if session is None or reading is None:
            reading = self._reading(state, Vehicle(1, 0, 0), 0.0)
        await self.link.meter(connector, session.transaction if session else None, reading)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> bool:
        """Run work (e.g. a report the CSMS asked for) in a task the running station owns."""
        return self._spawn(work, name)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> bool:
        """Run work in a task the running station owns; False (and nothing runs) when it is not running."""
        if self._group is None:
            work.close()
            return False
        self._group.create_task(work, name=f"{self.spec.station_id}-{name}")
        return True


async def _stopped(session: Session, seconds: float) -> bool:
    """Wait this long, or less if the session is asked to stop; True if it was."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await session.stop.wait()
    return session.stop.is_set()


async def cancel_quietly(task: asyncio.Task[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
