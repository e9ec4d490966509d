"""A version-neutral simulated station: vehicles arrive, authorize, charge as physics.py says, and leave.

It also obeys the CSMS: remote starts and stops, availability, resets, reservations and triggered messages.
The version's link maps each OCPP command to a method here and the answer back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol

from ocpp.exceptions import OCPPError

from evscada.simulator.charging_limits import ChargingLimits
from evscada.simulator.config import Change, Configuration, Setting
from evscada.simulator.faults import FaultKind
from evscada.simulator.local_list import LocalList
from evscada.simulator.model import (
    ConnectorState,
    Leave,
    Reading,
    StationSpec,
    Timing,
    Trigger,
    now_iso,
)
from evscada.simulator.station_certificates import StationCertificates
from evscada.simulator.station_faults import StationFaults
from evscada.simulator.station_files import StationFiles
from evscada.simulator.station_firmware import StationFirmware
from evscada.simulator.station_reservations import StationReservations
from evscada.simulator.station_sessions import StationSessions
from evscada.simulator.tasks import cancel_quietly
from evscada.simulator.uplink import CONNECTION_ERRORS, Offline, Uplink

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
    """What a station says, in OCPP terms; one implementation per version (and per kind: full or lean)."""

    @property
    def fails_when_lost(self) -> bool: ...  # its calls raise ConnectionError as soon as the connection dies

    def attach(self, station: SimulatedStation) -> None: ...

    async def boot(self, spec: StationSpec, reason: str = "PowerUp") -> tuple[str, int]: ...

    async def heartbeat(self) -> None: ...

    async def status(self, connector: int, status: str, fault: FaultKind | None = None) -> None: ...

    async def problem(
        self, connector: int, fault: FaultKind, *, cleared: bool, at: str, event_id: int, message_id: str | None = None
    ) -> None: ...

    async def authorize(self, token: str) -> str: ...

    async def start_transaction(
        self,
        connector: int,
        token: str,
        meter_wh: float,
        remote_start_id: int | None = None,
        reservation_id: int | None = None,
    ) -> tuple[str, str]: ...

    async def meter(
        self,
        connector: int,
        transaction: str | None,
        reading: Reading,
        *,
        at: str | None = None,
        offline: bool = False,
        message_id: str | None = None,
        charging_state: str = "Charging",
        changed: bool = False,
    ) -> None:
        """A sample; charging_state: Charging, SuspendedEVSE or SuspendedEV, changed: since the previous sample."""
        ...

    async def stop_transaction(
        self,
        connector: int,
        transaction: str,
        token: str,
        reading: Reading,
        reason: str,
        *,
        at: str | None = None,
        offline: bool = False,
        message_id: str | None = None,
    ) -> None: ...

    async def firmware_idle(self) -> None: ...

    async def diagnostics_idle(self) -> None: ...

    async def sign_certificate(self, csr: str) -> str: ...

    async def reservation_expired(self, reservation_id: int) -> None: ...


class SimulatedStation(StationSessions, StationFaults, StationReservations):
    def __init__(self, spec: StationSpec, link: Link | None, timing: Timing) -> None:
        self.spec = spec
        self.timing = timing
        self.connectors = {n: ConnectorState() for n in range(1, spec.connectors + 1)}
        self.config = Configuration(
            connectors=spec.connectors, meter_interval=timing.meter_interval, supply_phases=spec.supply_phases
        )
        self.local_list = LocalList()
        self.files = StationFiles(spec.station_id)  # diagnostics and logs the CSMS asks for
        self.firmware = StationFirmware(spec.station_id)  # updates the CSMS sends (fail_install injects failures)
        self.certificates = StationCertificates(spec.station_id)  # its own key and certificate (profile 3)
        self.network_profiles: dict[int, dict[str, Any]] = {}  # 2.0.1 SetNetworkProfile, by configuration slot
        self.charging_limits = ChargingLimits(phases=spec.supply_phases or 1, volts=spec.nominal_volts)
        self.sessions_started = 0  # by the station's own drivers (Timing.sessions caps them)
        self.sessions_completed = 0
        self.closing = False  # set when the simulation ends: its drivers start no new session
        self.transaction_samples = 0  # periodic meter values of transactions, sent or queued
        self.booted = False  # a BootNotification of it was accepted, once at least
        self.retired = asyncio.Event()  # its drivers had all their sessions and the CSMS has everything
        self.uplink = Uplink(link, station_id=spec.station_id)
        self.tx_seq: dict[str, int] = {}  # 2.0.1 seqNo per transaction; it outlives connections
        self.sent_seq: dict[str, int] = {}  # 2.0.1 seqNo of a message in flight, kept for its resend
        self._group: asyncio.TaskGroup | None = None  # owns every task while the station lives
        self._leave: asyncio.Future[Leave] | None = None
        self._heartbeat_changed = asyncio.Event()
        self.reconnect_now = asyncio.Event()  # a dropped connection comes back early when its fault is cleared
        self._boot_reason: str | None = "PowerUp"  # None: the next connection needs no BootNotification
        if link is not None:
            self.attach(link)

    @property
    def link(self) -> Link:
        """The connection the station speaks on now (for answers and tests); sends go through `uplink`."""
        if self._link is None:
            raise Offline
        return self._link

    def attach(self, link: Link) -> None:
        """Speak over this connection from now on (a new one after each reconnect)."""
        self._link: Link | None = link
        link.attach(self)

    async def live(self) -> None:
        """The station's own life, across connections: vehicles come and go until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                drivers = [
                    group.create_task(self._charge_forever(n), name=f"{self.spec.station_id}-charge-{n}")
                    for n in self.connectors
                ]
                if self.timing.sessions is not None:
                    await asyncio.wait(drivers)
                    await self.uplink.until_live()  # whatever was queued has been delivered
                    self.retired.set()
                await asyncio.Future()  # until cancelled: it still answers the CSMS
        finally:
            self._group = None

    async def connected(self, link: Link) -> Leave:
        """Boot if it has to, send what it owes, report, heartbeat; returns when it leaves this connection."""
        self.attach(link)
        self._leave = asyncio.get_running_loop().create_future()
        try:
            if self._boot_reason is not None:
                await self._boot(link, self._boot_reason)
                self._boot_reason = None
            await self.uplink.drain(link)
            for n in self.connectors:
                await self._send_status(n, self._status(n))
            heartbeats = asyncio.create_task(self._heartbeats(link), name=f"{self.spec.station_id}-heartbeats")
            try:
                return await self._leave
            finally:
                await cancel_quietly(heartbeats)
        finally:
            self._leave = None
            self.uplink.connection_lost()

    def leave(self, how: Leave) -> bool:
        """Ask the current connection to end; False if there is none."""
        if self._leave is None or self._leave.done():
            return False
        self._leave.set_result(how)
        return True

    async def _boot(self, link: Link, reason: str) -> None:
        status, interval = await link.boot(self.spec, reason)
        while status != "Accepted":
            await asyncio.sleep(min(interval or 30, 30))
            status, interval = await link.boot(self.spec, reason)
        self.booted = True
        if interval > 0:  # the CSMS sets the heartbeat interval at boot
            self.config.set_number("HeartbeatInterval", interval)

    async def _heartbeats(self, link: Link) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.config.number("HeartbeatInterval")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval if interval > 0 else None):
                    await self._heartbeat_changed.wait()
                continue  # a new interval: wait that long from now
            with contextlib.suppress(OCPPError):  # refused: the next one may not be
                await link.heartbeat()

    def change_setting(self, setting: Setting | None, value: str) -> Change:
        """Change a setting; a new heartbeat interval takes effect at once, a meter interval at the next sample."""
        change = self.config.change(setting, value)
        if change is Change.ACCEPTED and setting is not None and setting.key == "HeartbeatInterval":
            self._heartbeat_changed.set()
        if change is Change.ACCEPTED and setting is not None and setting.variable == "BasicAuthPassword":
            self.spec = dataclasses.replace(self.spec, password=setting.value)  # used from the next connection on
            setting.value = ""
        if change is Change.ACCEPTED and setting is not None and setting.key == "SecurityProfile":
            self._spawn(self._reconnect_soon(), "security-profile")  # 1.6: reconnect with the new credentials
        return change

    def install_certificate(self, chain: str) -> bool:
        """The chain the CSMS signed for its last CSR: kept, and presented over wss:// from the next connection."""
        if not self.certificates.install(chain):
            return False
        self.spec = dataclasses.replace(self.spec, client_certificate=(chain, self.certificates.key_pem().decode()))
        return True

    async def _reconnect_soon(self) -> None:
        """After the answer has gone: leave and come back at once (a new security profile, a new password)."""
        await asyncio.sleep(0.1)
        log.info("%s: reconnecting with new security settings", self.spec.station_id)
        self.leave(Leave(0.0))

    async def _send_status(self, connector: int, status: str) -> None:
        fault = self.connectors[connector].fault
        await self.uplink.status(lambda link: link.status(connector, status, fault))

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
            await self._send_status(n, self.connectors[n].idle_status())

    def reset(self, reason: str) -> None:
        """End every session with this stop reason, then reboot."""
        self._spawn(self._reset(reason), "reset")

    async def end_sessions(self, reason: str, *, grace: float = RESET_GRACE_SECONDS) -> int:
        """Stop every session with this reason and wait (at most `grace` s) until each has sent its stop; how many
        there were."""
        sessions = [s.session for s in self.connectors.values() if s.session is not None]
        for session in sessions:
            session.request_stop(reason)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                for session in sessions:
                    await session.done.wait()
        return len(sessions)

    async def _reset(self, reason: str) -> None:
        await self.end_sessions(reason)
        for state in self.connectors.values():  # a reboot forgets reservations
            state.reservation = None
        self._boot_reason = "RemoteReset"
        log.info("%s: rebooting after a reset", self.spec.station_id)
        self.leave(Leave(self.timing.reboot_seconds))

    def restart(self, boot_reason: str, firmware: str | None = None) -> None:
        """Reboot (after a firmware install: with its version), announcing boot_reason in the next BootNotification."""
        if firmware:
            self.spec = dataclasses.replace(self.spec, firmware=firmware)
        self._spawn(self._restart(boot_reason), "restart")

    async def _restart(self, boot_reason: str) -> None:
        await self.end_sessions("Reboot")
        self._boot_reason = boot_reason
        self.leave(Leave(self.timing.reboot_seconds))

    def trigger(self, message: Trigger, connector: int | None) -> None:
        self._spawn(self._send_triggered(message, connector), f"trigger-{message.value}")

    async def _send_triggered(self, message: Trigger, connector: int | None) -> None:
        connectors = self.targets(connector) or []
        link = self.link
        if message is Trigger.BOOT:
            await link.boot(self.spec, "Triggered")
        elif message is Trigger.HEARTBEAT:
            await link.heartbeat()
        elif message is Trigger.STATUS:
            for n in connectors:
                await self._send_status(n, self._status(n))
        elif message is Trigger.METER:
            for n in connectors:
                await self._meter_now(n)
        elif message is Trigger.FIRMWARE:
            await link.firmware_idle()
        elif message is Trigger.DIAGNOSTICS:
            await link.diagnostics_idle()
        elif message is Trigger.SIGN_CERTIFICATE:
            organisation = self.config.by_variable("SecurityCtrlr", "OrganizationName")
            await link.sign_certificate(self.certificates.new_csr(organisation.value if organisation else "evscada"))

    def _status(self, connector: int) -> str:
        state = self.connectors[connector]
        if state.session is not None and state.fault is None:
            return state.session.charging_state
        return state.idle_status()

    async def _meter_now(self, connector: int) -> None:
        state = self.connectors[connector]
        session = state.session
        reading = session.reading if session is not None else None
        if session is None or reading is None:
            reading = self.idle_reading(state)
        await self._send_meter(connector, session.transaction if session else None, reading)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> bool:
        """Run work (e.g. a report the CSMS asked for) in a task the running station owns."""
        return self._spawn(work, name)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str, *, guard: bool = True) -> bool:
        """Run work in a task the living station owns; False (and nothing runs) when it is not running.

        A task that fails (e.g. its connection died mid-call) is logged and ends alone, not the station."""
        if self._group is None:
            work.close()
            return False
        self._group.create_task(
            _guarded(work, self.spec.station_id) if guard else work, name=f"{self.spec.station_id}-{name}"
        )
        return True


async def _guarded(work: Coroutine[Any, Any, None], station_id: str) -> None:
    try:
        await work
    except (Offline, *CONNECTION_ERRORS) as exc:
        log.info("%s: connection lost mid-way (%r)", station_id, exc)
    except OCPPError as exc:
        log.warning("%s: the CSMS refused (%s: %s)", station_id, exc.code, exc.description)
    except Exception:
        log.exception("%s: a simulated station's task failed", station_id)
