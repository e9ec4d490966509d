"""The alarm engine: watches the bus and a timer, raises an alarm when a condition starts and clears it when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from evscada.core import events
from evscada.core.alarms import conditions as c
from evscada.core.alarms import rules as r
from evscada.core.alarms.rules import AlarmRules, SiteRules
from evscada.core.charging.queries import TransactionFilter
from evscada.core.model import AlarmId, AlarmState, EvseRef, SiteId, StationId, TransactionPk, TransactionState

if TYPE_CHECKING:
    from evscada.core.services import Core

log = logging.getLogger(__name__)

SITE_REFRESH_SECONDS = 60.0  # how often the engine re-reads which site each station belongs to


class Subscribable(Protocol):
    def subscribe(self, *kinds: type[events.Event]) -> AbstractAsyncContextManager[asyncio.Queue[events.Event]]:
        """A queue of the events of these types (none given: all)."""
        ...


LastSeen = Callable[[StationId], datetime | None]  # a connected station's last message time, None if not here


@dataclass(frozen=True, slots=True)
class _Tick(events.Event):
    """Put in the engine's own queue to run the timer checks between events (tests use it via `check`)."""

    done: asyncio.Future[None] = field(compare=False)


@dataclass(slots=True)
class _Session:
    station_id: StationId
    evse: EvseRef
    last_values: datetime


class AlarmEngine:
    """One per process that holds station connections; events arrive in order and are handled one at a time."""

    def __init__(
        self,
        *,
        core: Core,
        bus: Subscribable,
        rules: AlarmRules,
        last_seen: LastSeen | None = None,
        resume_connected: bool = False,
    ) -> None:
        """`resume_connected`: in a cluster the engine may start (a new leader) while other processes hold stations;
        stations the database says are online then count as connected, not as offline since their last message."""
        self._resume_connected = resume_connected
        self._core = core
        self._alarms = core.alarms
        self._clock = core.clock
        self._bus = bus
        self._rules = rules
        self._last_seen = last_seen or (lambda _sid: None)
        self._stack = contextlib.AsyncExitStack()
        self._queue: asyncio.Queue[events.Event] | None = None
        self._task: asyncio.Task[None] | None = None
        self._active: dict[str, AlarmId] = {}  # key -> id of alarms that may be active (storage decides)
        self._sites: dict[StationId, tuple[SiteId | None, str | None]] = {}
        self._sites_read = 0.0
        self._offline_since: dict[StationId, datetime] = {}
        self._offline_reason: dict[StationId, str] = {}
        self._connected: set[StationId] = set()
        self._connects: dict[StationId, deque[datetime]] = {}
        self._pending_since: dict[StationId, datetime] = {}
        self._faults: dict[tuple[StationId, int, int], str] = {}  # connector -> key of its fault alarm
        self._sessions: dict[TransactionPk, _Session] = {}
        self._registers: dict[tuple[StationId, int], tuple[datetime, float]] = {}
        self._handlers: dict[type, Callable[[Any], Awaitable[None]]] = {
            events.MeterValuesRecorded: self._meter_values,
            events.ConnectorStatusChanged: self._status,
            events.StationConnected: self._connected_event,
            events.StationDisconnected: self._disconnected,
            events.StationBooted: self._booted,
            events.TransactionStarted: self._transaction_started,
            events.TransactionEnded: self._transaction_ended,
            events.SecurityEventRaised: self._security,
            events.StationMessageReceived: self._station_message,
            events.CommandFinished: self._command,
            events.AlarmChanged: self._alarm_changed,
            _Tick: self._requested_tick,
        }

    async def start(self) -> None:
        """Subscribe before stations connect, so no event is missed; then load what storage knows."""
        wanted = tuple(kind for kind in self._handlers if kind is not _Tick)  # the ticks it puts in its queue itself
        self._queue = await self._stack.enter_async_context(self._bus.subscribe(*wanted))
        self._active = await self._alarms.active_keys()
        for key in self._active:
            if key.startswith(f"{r.STATION_FAULT}:"):
                head, connector, _code = key.rsplit(":", 2)
                evse_id, connector_id = connector.split("/")
                self._faults[(StationId(head.partition(":")[2]), int(evse_id), int(connector_id))] = key
        await self._read_sites()
        now = self._clock.now()
        for station in await self._core.stations.list():
            if station.last_seen is None:
                continue
            if self._resume_connected and station.online:
                self._connected.add(station.id)
            elif station.disconnect_reason == r.CSMS_STOPPED:
                # Closed by the last stop and unable to come back while the CSMS was down: it counts as away from
                # now, not for the whole downtime (issue 19).
                self._offline_since[station.id] = now
                self._offline_reason[station.id] = "not back since the CSMS started"
            else:  # stations already away count from when they were last heard
                self._offline_since[station.id] = station.last_seen
        running = await self._core.queries.transactions(
            where=TransactionFilter(state=TransactionState.RUNNING, limit=100_000)
        )
        for tx in running:
            self._sessions[tx.pk] = _Session(tx.station_id, tx.evse, now)
        self._task = asyncio.create_task(self._run(), name="alarm-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stack.aclose()

    async def check(self) -> None:
        """Run the timer checks now, in turn with the events already queued."""
        assert self._queue is not None, "start the engine first"
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Tick(station_id=StationId(""), at=self._clock.now(), done=done))
        await done

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        interval = self._rules.settings.check_interval_seconds
        next_tick = loop.time() + interval
        while True:
            try:
                event = self._queue.get_nowait()  # the fast path: no timer task per event under load
            except asyncio.QueueEmpty:
                try:
                    event = await asyncio.wait_for(self._queue.get(), max(next_tick - loop.time(), 0))
                except TimeoutError:
                    event = None
            try:
                if event is not None:
                    await self._handle(event)
                if loop.time() >= next_tick:
                    next_tick = loop.time() + interval
                    await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad event or a database hiccup must not stop the alarms
                log.exception("alarm engine: handling %s failed", type(event).__name__)

    async def _handle(self, event: events.Event) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            await handler(event)

    async def _disconnected(self, event: events.StationDisconnected) -> None:
        self._connected.discard(event.station_id)
        if event.reason == r.CSMS_STOPPED:
            return  # the CSMS closed it on its way down: the next start counts from then (see start)
        self._offline_since[event.station_id] = event.at
        self._offline_reason[event.station_id] = event.reason

    async def _transaction_started(self, event: events.TransactionStarted) -> None:
        self._sessions[event.transaction_pk] = _Session(event.station_id, event.evse, self._clock.now())

    async def _requested_tick(self, event: _Tick) -> None:
        try:
            await self._tick()
        finally:
            event.done.set_result(None)

    # -- helpers -------------------------------------------------------------------------------------------------

    def _site(self, station_id: StationId) -> tuple[SiteId | None, str | None]:
        return self._sites.get(station_id, (None, None))

    def _rules_for(self, station_id: StationId) -> SiteRules:
        return self._rules.for_site(*self._site(station_id))

    async def _read_sites(self) -> None:
        names = {site.id: site.name for site in await self._core.sites.list()}
        self._sites = {
            s.id: (s.site_id, names.get(s.site_id) if s.site_id else None) for s in await self._core.stations.list()
        }
        self._sites_read = asyncio.get_running_loop().time()
        for sid in [sid for sid in self._offline_since if sid not in self._sites]:
            del self._offline_since[sid]  # the station was removed: nobody waits for it any more
            self._offline_reason.pop(sid, None)
            self._pending_since.pop(sid, None)
            await self._clear(f"{r.OFFLINE}:{sid}")

    async def _raise(
        self,
        key: str,
        source: str,
        station_id: StationId,
        message: str,
        *,
        evse: EvseRef | None = None,
        detail: str | None = None,
    ) -> None:
        alarm = await self._alarms.raise_alarm(
            key=key,
            source=source,
            station_id=station_id,
            evse=evse,
            priority=self._rules_for(station_id).priority(source, detail),
            message=message,
            site_id=self._site(station_id)[0],
        )
        self._active[key] = alarm.id

    async def _clear(self, key: str) -> None:
        if self._active.pop(key, None) is not None:
            await self._alarms.clear(key=key)

    async def _alarm_changed(self, event: events.AlarmChanged) -> None:
        alarm = event.alarm
        if alarm.state == AlarmState.CLEARED:
            if self._active.get(alarm.key) == alarm.id:
                del self._active[alarm.key]
        elif event.change == "raised":
            self._active.setdefault(alarm.key, alarm.id)

    # -- sources -------------------------------------------------------------------------------------------------

    async def _status(self, event: events.ConnectorStatusChanged) -> None:
        connector = (event.station_id, event.evse.evse_id, event.evse.connector_id)
        faulted = event.error_code is not None or event.status == "Faulted"
        code = event.error_code or event.status
        key = f"{r.STATION_FAULT}:{event.station_id}:{event.evse.evse_id}/{event.evse.connector_id}:{code}"
        previous = self._faults.get(connector)
        if previous is not None and (not faulted or previous != key):
            del self._faults[connector]
            await self._clear(previous)
        if faulted:
            self._faults[connector] = key
            message = c.fault_message(event.evse, event.status, event.error_code, None, None)
            await self._raise(key, r.STATION_FAULT, event.station_id, message, evse=event.evse, detail=code)

    async def _connected_event(self, event: events.StationConnected) -> None:
        sid = event.station_id
        self._connected.add(sid)
        self._offline_since.pop(sid, None)
        self._offline_reason.pop(sid, None)
        if sid not in self._sites:
            await self._read_sites()
        await self._clear(f"{r.OFFLINE}:{sid}")
        thresholds = self._rules_for(sid).thresholds
        window = timedelta(seconds=thresholds.flapping_window_seconds)
        connects = self._connects.setdefault(sid, deque())
        connects.append(event.at)
        while connects and connects[0] < event.at - window:
            connects.popleft()
        if len(connects) >= thresholds.flapping_reconnects:
            message = f"station reconnected {len(connects)} times within {thresholds.flapping_window_seconds:g} s"
            await self._raise(f"{r.FLAPPING}:{sid}", r.FLAPPING, sid, message)

    async def _booted(self, event: events.StationBooted) -> None:
        sid, key = event.station_id, f"{r.BOOT}:{event.station_id}"
        if event.status == "Accepted":
            self._pending_since.pop(sid, None)
            await self._clear(key)
        elif event.status == "Rejected":
            self._pending_since.pop(sid, None)
            await self._raise(key, r.BOOT, sid, "BootNotification rejected: the station is not allowed to operate")
        else:
            self._pending_since.setdefault(sid, event.at)

    async def _transaction_ended(self, event: events.TransactionEnded) -> None:
        session = self._sessions.pop(event.transaction_pk, None)
        await self._clear(f"{r.NO_METER_VALUES}:{event.station_id}:{event.transaction_pk}")
        evse = event.evse or (session.evse if session else None)
        key = f"{r.TRANSACTION}:{event.station_id}:{evse.evse_id if evse else 0}"
        problem = c.abnormal_end(event.stop_reason, event.energy_wh)
        if problem is None:
            await self._clear(key)  # a normal session on the connector: it works again
            return
        message = f"{c.where(evse)}: {problem} (transaction {event.transaction_pk})"
        await self._raise(key, r.TRANSACTION, event.station_id, message, evse=evse, detail=event.stop_reason)

    async def _meter_values(self, event: events.MeterValuesRecorded) -> None:
        if event.transaction_pk is not None:
            session = self._sessions.get(event.transaction_pk)
            if session is not None:
                session.last_values = self._clock.now()
                key = f"{r.NO_METER_VALUES}:{event.station_id}:{event.transaction_pk}"
                if key in self._active:
                    await self._clear(key)
        reading = event.energy_register_wh
        if reading is None:
            return
        where = (event.station_id, event.evse.evse_id)
        last = self._registers.get(where)
        if last is not None and event.at < last[0]:
            return  # a late report (sent after being offline) says nothing about the register now
        self._registers[where] = (event.at, reading)
        if last is not None and reading < last[1] - self._rules.settings.energy_register_tolerance_wh:
            message = f"{c.where(event.evse)}: energy register went back from {last[1]:g} Wh to {reading:g} Wh"
            key = f"{r.ENERGY_REGISTER}:{event.station_id}:{event.evse.evse_id}"
            await self._raise(key, r.ENERGY_REGISTER, event.station_id, message, evse=event.evse)

    async def _security(self, event: events.SecurityEventRaised) -> None:
        if event.kind in self._rules.settings.quiet_security_events:
            return
        message = f"security event {event.kind}" + (f": {event.detail}" if event.detail else "")
        kind = event.kind if event.kind in c.SECURITY_EVENT_TYPES else c.OTHER_SECURITY_EVENTS
        key = f"{r.SECURITY}:{event.station_id}:{kind}"
        await self._raise(key, r.SECURITY, event.station_id, message, detail=event.kind)

    async def _station_message(self, event: events.StationMessageReceived) -> None:
        sid, status = event.station_id, event.status or ""
        if event.kind == "event":
            for problem in event.problems:
                key = f"{r.STATION_EVENT}:{sid}:{problem.subject}"
                if problem.active:
                    await self._raise(
                        key, r.STATION_EVENT, sid, problem.message, evse=problem.evse, detail=problem.tech_code
                    )
                else:
                    await self._clear(key)
        elif event.kind == "firmware_status":
            await self._outcome(
                f"{r.FIRMWARE}:{sid}", r.FIRMWARE, sid, status, failed=c.FIRMWARE_FAILED, done=c.FIRMWARE_DONE
            )
        elif event.kind in ("diagnostics_status", "log_status"):
            await self._outcome(
                f"{r.DIAGNOSTICS}:{sid}", r.DIAGNOSTICS, sid, status, failed=c.UPLOAD_FAILED, done=c.UPLOAD_DONE
            )

    async def _outcome(
        self, key: str, source: str, sid: StationId, status: str, *, failed: frozenset[str], done: frozenset[str]
    ) -> None:
        if status in failed:
            what = "firmware update" if source == r.FIRMWARE else "diagnostics/log upload"
            await self._raise(key, source, sid, f"{what} failed: {status}", detail=status)
        elif status in done:
            await self._clear(key)

    async def _command(self, event: events.CommandFinished) -> None:
        key = f"{r.COMMAND_TIMEOUT}:{event.station_id}"
        if event.outcome == "timeout":
            message = f"{event.command} (command {event.command_id}) got no answer in time"
            await self._raise(key, r.COMMAND_TIMEOUT, event.station_id, message, detail=event.command)
        elif event.outcome in ("answered", "call_error"):
            await self._clear(key)  # the station answers commands again

    # -- timers --------------------------------------------------------------------------------------------------

    async def _tick(self) -> None:
        if asyncio.get_running_loop().time() - self._sites_read >= SITE_REFRESH_SECONDS:
            await self._read_sites()
        now = self._clock.now()
        await self._check_offline(now)
        for sid, since in list(self._pending_since.items()):
            limit = self._rules_for(sid).thresholds.pending_after_seconds
            if now - since >= timedelta(seconds=limit) and f"{r.BOOT}:{sid}" not in self._active:
                message = f"station has been Pending since {since:%Y-%m-%d %H:%M:%S} UTC; accept or reject it"
                await self._raise(f"{r.BOOT}:{sid}", r.BOOT, sid, message)
        for sid, connects in list(self._connects.items()):
            window = timedelta(seconds=self._rules_for(sid).thresholds.flapping_window_seconds)
            while connects and connects[0] < now - window:
                connects.popleft()
            if not connects:
                del self._connects[sid]
            if len(connects) < self._rules_for(sid).thresholds.flapping_reconnects:
                await self._clear(f"{r.FLAPPING}:{sid}")
        for pk, session in list(self._sessions.items()):
            if session.station_id in self._offline_since:
                session.last_values = now  # its `offline` alarm says it all; the wait restarts when it is back
                continue
            quiet = timedelta(minutes=self._rules_for(session.station_id).thresholds.no_meter_values_after_minutes)
            key = f"{r.NO_METER_VALUES}:{session.station_id}:{pk}"
            if now - session.last_values >= quiet and key not in self._active:
                last = f"{session.last_values:%Y-%m-%d %H:%M:%S} UTC"
                message = f"{c.where(session.evse)}: transaction {pk} has sent no meter values since {last}"
                await self._raise(key, r.NO_METER_VALUES, session.station_id, message, evse=session.evse)
        await self._alarms.expire()

    async def _check_offline(self, now: datetime) -> None:
        for sid, since in list(self._offline_since.items()):
            key = f"{r.OFFLINE}:{sid}"
            if key not in self._active and now - since >= timedelta(
                seconds=self._rules_for(sid).thresholds.offline_after_seconds
            ):
                message = f"station offline since {since:%Y-%m-%d %H:%M:%S} UTC"
                if sid in self._offline_reason:
                    message += f" ({self._offline_reason[sid]})"
                await self._raise(key, r.OFFLINE, sid, message)
        for sid in self._connected:
            seen = self._last_seen(sid)
            if seen is None:
                continue
            key = f"{r.OFFLINE}:{sid}"
            silent = now - seen >= timedelta(seconds=self._rules_for(sid).thresholds.silent_after_seconds)
            if silent and key not in self._active:
                await self._raise(key, r.OFFLINE, sid, f"connected but silent since {seen:%Y-%m-%d %H:%M:%S} UTC")
            elif not silent and key in self._active:
                await self._clear(key)
