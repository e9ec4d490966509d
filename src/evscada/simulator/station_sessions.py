"""A simulated station's sessions: drivers arrive, authorize, charge (physics.py) and leave, or the CSMS starts and
stops them; each sends its transaction messages through the station's uplink."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ocpp.exceptions import OCPPError

from evscada.simulator.charging_limits import Cap, ChargingLimits, Profile, Purpose
from evscada.simulator.config import Configuration
from evscada.simulator.model import ConnectorState, Reading, Session, StationSpec, Supply, Timing, now_iso
from evscada.simulator.physics import Battery, Flow, charge, charging_state
from evscada.simulator.uplink import Offline, Uplink
from evscada.simulator.vehicles import EvSpec, any_car

log = logging.getLogger(__name__)


class StationSessions:
    """Mixed into SimulatedStation."""

    spec: StationSpec
    timing: Timing
    connectors: dict[int, ConnectorState]
    config: Configuration
    uplink: Uplink
    sessions_started: int
    sessions_completed: int
    transaction_samples: int
    charging_limits: ChargingLimits
    closing: bool
    _group: asyncio.TaskGroup | None

    if TYPE_CHECKING:  # provided by SimulatedStation

        def _spawn(self, work: Coroutine[Any, Any, None], name: str, *, guard: bool = True) -> bool: ...
        async def _send_status(self, connector: int, status: str) -> None: ...

    async def _charge_forever(self, connector: int) -> None:
        """Drivers arrive after an idle pause, as long as there are drivers (tokens) and sessions left to have."""
        cap = self.timing.sessions
        while self.spec.tokens and (cap is None or self.sessions_started < cap):
            await asyncio.sleep(random.uniform(*self.timing.idle_seconds))
            if self.closing:  # the simulation is ending: no new drivers
                return
            if not self.uplink.live:
                # No driver starts a session while the station is offline: it could not number the transaction.
                await self.uplink.until_live()
            elif self.connectors[connector].free_for(None):
                self.sessions_started += 1
                await self.charge_once(connector, random.choice(self.spec.tokens))
            else:  # busy, faulted or out of service: look again in a while (an idle pause may be 0)
                await asyncio.sleep(1.0)

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

    def release(self, connector: int) -> None:
        """Give up a claim that will not start (its remote start was refused after all), with its reservation."""
        state = self.connectors[connector]
        if state.session is not None and state.session.held is not None:
            state.reservation = state.session.held  # its expiry task still runs and still matches it
        state.session = None

    def start_session(self, connector: int) -> None:
        """Charge on a connector claimed before, in a task the station owns."""
        session = self.connectors[connector].session
        if session is None:
            return
        authorize = self.config.flag("AuthorizeRemoteTxRequests")
        if not self._spawn(self._session(connector, session, authorize=authorize), f"session-{connector}", guard=True):
            self.connectors[connector].session = None

    def _claim(self, connector: int, token: str, remote_start_id: int | None = None) -> Session | None:
        state = self.connectors.get(connector)
        if state is None or not state.free_for(token):
            return None
        held = state.reservation
        state.reservation = None  # its holder has arrived
        state.session = Session(
            token=token,
            remote_start_id=remote_start_id,
            reservation_id=held.reservation_id if held is not None else None,
            held=held,
        )
        return state.session

    def cap_at(self, connector: int, at: float) -> Cap:
        """What the charging profiles in force allow on a connector at `at` (seconds since the epoch)."""
        limits = self.charging_limits
        running = self._runs(connector, None)
        moment = datetime.fromtimestamp(at, UTC)
        return limits.cap(connector, moment, transaction=running, tx_start=limits.started.get(connector))

    def composite_schedule(self, connector: int, duration_s: int, unit: str) -> list[dict[str, float]] | None:
        """The chargingSchedulePeriods (snake_case) from now: what the station will offer on a connector (0: the
        station) per period, in `unit`; None for a connector it does not have."""
        if connector != 0 and connector not in self.connectors:
            return None
        limits = self.charging_limits
        periods = limits.composite(
            connector,
            datetime.now(UTC),
            duration_s,
            unit=unit,
            ceiling_w=self.spec.ceiling_w,
            transaction=self._runs(connector, None),
            tx_start=limits.started.get(connector),
        )
        return [{"start_period": start, "limit": limit} for start, limit in periods]

    def install_profile(self, profile: Profile, *, remote_start: bool = False) -> bool:
        """Take a charging profile the CSMS sets, or refuse it (False) where OCPP says a station must.

        remote_start: the TxProfile of a remote start, for the session claimed a moment ago (no transaction yet).
        """
        limits, config = self.charging_limits, self.config
        if profile.connector != 0 and profile.connector not in self.connectors:
            return False
        if profile.purpose is Purpose.STATION_MAX and profile.connector != 0:
            return False
        if profile.purpose is Purpose.TX and not (remote_start or self._runs(profile.connector, profile.transaction)):
            return False
        installed = {p.profile_id for p in limits.profiles()}
        if (
            profile.stack_level > config.number("ChargeProfileMaxStackLevel")
            or not 0 < len(profile.periods) <= config.number("ChargingScheduleMaxPeriods")
            or (profile.profile_id not in installed and len(installed) >= config.number("MaxChargingProfilesInstalled"))
        ):
            return False
        limits.install(profile)
        return True

    def _runs(self, connector: int, transaction: str | None) -> bool:
        """A transaction runs on this connector (this one, if named)."""
        state = self.connectors.get(connector)
        session = state.session if state is not None else None
        if session is None or session.transaction is None:
            return False
        return transaction is None or session.transaction == transaction

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
        except Offline:
            log.info("%s: connection lost before connector %d's session started", self.spec.station_id, connector)
        except OCPPError as exc:  # a CALLERROR to Authorize or the start: the session cannot go on
            log.warning("%s: the CSMS refused connector %d's session (%s)", self.spec.station_id, connector, exc.code)
        finally:
            state.session = None
            self.charging_limits.transaction_ended(connector)
            session.done.set()
        await self._send_status(connector, state.idle_status())

    async def _transact(self, connector: int, session: Session, *, authorize: bool) -> None:
        state = self.connectors[connector]
        token = session.token
        await self._send_status(connector, "Preparing")
        if authorize and await self.uplink.call(lambda link: link.authorize(token)) != "Accepted":
            return
        meter_start = state.energy_register_wh
        transaction, accepted = await self.uplink.call(
            lambda link: link.start_transaction(
                connector, token, meter_start, session.remote_start_id, session.reservation_id
            )
        )
        session.transaction = transaction
        self.charging_limits.transaction_started(connector, datetime.now(UTC))
        if accepted != "Accepted":
            reading = self.idle_reading(state)
            await self._stop(connector, transaction, token, reading, "DeAuthorized")
            return
        await self._send_status(connector, "Charging")
        reading = await self._deliver(connector, session)
        if state.fault is None:  # a faulted connector has said Faulted already
            await self._send_status(connector, "Finishing")
        await self._stop(connector, transaction, token, reading, session.stop_reason or "EVDisconnected")
        self.sessions_completed += 1

    async def _stop(self, connector: int, transaction: str, token: str, reading: Reading, reason: str) -> None:
        # When it happened, even if sent after a reconnect (then flagged offline); one message, fixed now, however
        # often it is sent, so the CSMS recognises a resend after a connection died under it (a repeat is the same).
        at, offline, message_id = now_iso(), not self.uplink.live, uuid.uuid4().hex
        await self.uplink.keep(
            lambda link: link.stop_transaction(
                connector,
                transaction,
                token,
                reading,
                reason,
                at=at,
                offline=offline,
                message_id=message_id,
            ),
            transaction=transaction,
        )

    async def _send_meter(
        self,
        connector: int,
        transaction: str | None,
        reading: Reading,
        *,
        at: float | None = None,
        state: str = "Charging",
        changed: bool = False,
    ) -> None:
        """A sample taken at `at` (seconds since the epoch; None: now) in this charging state (changed: just now)."""
        if transaction is None:  # a sample outside a transaction is worth nothing later
            await self.uplink.status(lambda link: link.meter(connector, None, reading))
            return
        self.transaction_samples += 1
        # Offline or not when it was taken, not when it is sent: a resend must be the very message sent before.
        when, offline, message_id = now_iso(at), not self.uplink.live, uuid.uuid4().hex
        await self.uplink.keep(
            lambda link: link.meter(
                connector,
                transaction,
                reading,
                at=when,
                offline=offline,
                message_id=message_id,
                charging_state=state,
                changed=changed,
            ),
            transaction=transaction,
        )

    async def _deliver(self, connector: int, session: Session) -> Reading:
        """Charge tick by tick until the driver leaves (a fleet vehicle: at its departure), the session's samples are
        sent, or someone stops it. A limit counts from the next tick (Timing.tick later, plus any wait for an answer);
        a sample goes out every MeterValueSampleInterval, and at once when the charging state changes."""
        state = self.connectors[connector]
        ev = self.spec.vehicles.get(session.token) or any_car()
        battery = Battery(ev, random.uniform(*ev.arrival_soc))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._stay(ev)
        samples_left = self.timing.meters_per_session
        session.reading = self._reading(state, battery, None)
        last = last_sample = time.time()
        while loop.time() < deadline and samples_left != 0:
            interval = self.config.number("MeterValueSampleInterval")
            # 0 (the load mode's --pace 0): back to back, each sample waiting for its answer; offline, once a second.
            step = min(interval, self.timing.tick) if interval > 0 else 0.0 if self.uplink.live else 1.0
            if await _stopped(session, step):
                break
            now = time.time()
            cap = self.cap_at(connector, now)  # a limit set since the last tick counts from this one
            flowed, energy = charge(self.spec, battery, cap, (now - last) * self.timing.time_scale)
            last = now
            state.energy_register_wh += energy
            session.reading = self._reading(state, battery, flowed)
            held = charging_state(cap, flowed)
            changed = held != session.charging_state and state.fault is None
            if changed:
                session.charging_state = held
                await self._charging_state_changed(connector, held)
            if changed or interval <= 0 or now - last_sample >= interval - step / 2:
                last_sample = now
                if samples_left is not None:
                    samples_left -= 1
                await self._send_meter(
                    connector,
                    session.transaction,
                    session.reading,
                    at=now,
                    state=session.charging_state,
                    changed=changed,
                )
        return session.reading

    def _stay(self, ev: EvSpec) -> float:
        """Seconds until the vehicle leaves: at its departure if it has one, else when its driver chooses."""
        now = datetime.now(UTC)
        leaves = ev.next_departure(now)
        if leaves is None:
            return random.uniform(*self.timing.session_seconds)
        return (leaves - now).total_seconds()

    async def _charging_state_changed(self, connector: int, state: str) -> None:
        """A limit of 0 suspends the charge (SuspendedEVSE), a vehicle at its target takes nothing (SuspendedEV).
        1.6 says so in a StatusNotification; 2.0.1 in the chargingState of the sample's TransactionEvent
        (triggerReason ChargingStateChanged), its connector staying Occupied."""
        if self.spec.version == "1.6":
            await self._send_status(connector, state)

    def _reading(self, state: ConnectorState, battery: Battery, flowed: Flow | None) -> Reading:
        if flowed is None:
            return self.idle_reading(state, soc=battery.soc)
        return Reading(
            energy_wh=round(state.energy_register_wh, 1),
            power_w=flowed.power_w,
            current_a=flowed.current_a,
            voltage_v=flowed.voltage_v,
            soc=round(battery.soc, 1),
            phases=flowed.phases,
            dc=flowed.dc,
        )

    def idle_reading(self, state: ConnectorState, *, soc: float = 0.0) -> Reading:
        """Nothing flows: the register, and the supply's voltage (a DC output has none without a vehicle)."""
        dc = self.spec.supply is Supply.DC
        return Reading(
            energy_wh=round(state.energy_register_wh, 1),
            power_w=0.0,
            current_a=0.0,
            voltage_v=0.0 if dc else 230.0,
            soc=round(soc, 1),
            phases=1 if dc else self.spec.phases,
            dc=dc,
        )


async def _stopped(session: Session, seconds: float) -> bool:
    """Wait this long, or less if the session is asked to stop; True if it was."""
    if seconds <= 0:  # back to back: only let the others run
        await asyncio.sleep(0)
        return session.stop.is_set()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await session.stop.wait()
    return session.stop.is_set()
