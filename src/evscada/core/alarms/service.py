"""Alarms in storage: raised and cleared by the engine, acknowledged, commented and shelved by operators."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from evscada.core import events
from evscada.core.access.audit import Auditor, AuditRepository
from evscada.core.alarms import conditions
from evscada.core.errors import AlarmConflict, InvalidArgument, UnknownAlarm, UnknownStation
from evscada.core.model import (
    Alarm,
    AlarmId,
    AlarmPriority,
    AlarmState,
    EvseRef,
    SiteId,
    StationId,
)
from evscada.core.ports import Clock, EventBus, Store
from evscada.core.stations.repositories import StationRepository

log = logging.getLogger(__name__)

COMMENT_LENGTH = 2000
ACKNOWLEDGE_MANY = 1000  # one bulk acknowledgement handles at most this many alarms


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    state: AlarmState | None = None
    station_id: StationId | None = None
    site_id: SiteId | None = None
    source: str | None = None
    priority: AlarmPriority | None = None
    since: datetime | None = None  # raised at or after
    until: datetime | None = None  # raised before
    standing: bool = False  # ISA-18.2: active, or cleared but not yet acknowledged (overrides `state`)
    unacknowledged: bool = False
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A station taken out of service for work: its alarms are recorded but not notified until `until`."""

    station_id: StationId
    started_at: datetime
    until: datetime
    reason: str
    started_by: str
    ended_at: datetime | None = None
    ended_by: str | None = None

    def active(self, now: datetime) -> bool:
        return self.ended_at is None and self.until > now


class AlarmRepository(Protocol):
    async def add(self, *, alarm: Alarm) -> Alarm:
        """Insert; assigns the id."""
        ...

    async def get(self, *, alarm_id: AlarmId) -> Alarm | None: ...

    async def active(self, *, key: str) -> Alarm | None: ...

    async def active_keys(self) -> dict[str, AlarmId]: ...

    async def last_shelf(self, *, key: str, now: datetime) -> tuple[datetime, str | None] | None:
        """A shelf still running on an earlier alarm of this condition: a re-raise stays shelved."""
        ...

    async def repeat(self, *, alarm_id: AlarmId, at: datetime, message: str, priority: AlarmPriority) -> None: ...

    async def clear(self, *, alarm_id: AlarmId, at: datetime) -> None: ...

    async def acknowledge(self, *, alarm_id: AlarmId, at: datetime, by: str, comment: str | None) -> bool:
        """False when it was acknowledged already."""
        ...

    async def set_comment(self, *, alarm_id: AlarmId, comment: str) -> None: ...

    async def shelve(self, *, alarm_id: AlarmId, until: datetime | None, reason: str | None) -> None: ...

    async def shelves_due(self, *, now: datetime) -> list[Alarm]: ...

    async def unsuppress(self, *, station_id: StationId) -> list[Alarm]:
        """Active alarms of the station raised in maintenance, now no longer suppressed."""
        ...

    async def maintenance(self, *, station_id: StationId) -> Maintenance | None:
        """The station's open maintenance period, if any (possibly past its end time)."""
        ...

    async def start_maintenance(self, *, maintenance: Maintenance) -> None: ...

    async def end_maintenance(self, *, station_id: StationId, at: datetime, by: str) -> bool: ...

    async def maintenances_due(self, *, now: datetime) -> list[Maintenance]: ...

    async def consequences(self, *, cause_id: AlarmId) -> list[Alarm]:
        """Every alarm recorded with this one as its cause, oldest first."""
        ...

    async def list(self, *, where: AlarmFilter) -> list[Alarm]: ...  # last: its name hides the builtin below it


# Sources with no state that returns to normal by itself: acknowledging them ends them.
LATCHED_SOURCES = frozenset(
    {"security", "transaction", "energy_register", "command_timeout", "firmware", "diagnostics"}
)


def _append(old: str | None, by: str, text: str) -> str:
    line = f"{by}: {text.strip()}"
    return (f"{old}\n{line}" if old else line)[-COMMENT_LENGTH:]


class AlarmUnit(Protocol):
    alarms: AlarmRepository
    stations: StationRepository  # maintenance is per station
    audit: AuditRepository  # operators' acknowledgements


def first_cause(alarms: Sequence[Alarm], *, source: str, evse: EvseRef | None) -> AlarmId | None:
    """The alarm a new one follows from, among the station's recent active alarms: the earliest at the same place
    (its own cause when it is a consequence itself, so a group always hangs on its first alarm)."""
    if source in conditions.UNGROUPED_SOURCES:
        return None
    candidates = [
        a for a in alarms if a.source not in conditions.UNGROUPED_SOURCES and conditions.same_place(a.evse, evse)
    ]
    if not candidates:
        return None
    first = min(candidates, key=lambda a: (a.raised_at, a.id))
    return first.cause_id or first.id


class AlarmService:
    def __init__(
        self,
        *,
        store: Store[AlarmUnit],
        bus: EventBus,
        clock: Clock,
        audit: Auditor | None = None,
        cause_window_seconds: float = conditions.CAUSE_WINDOW_SECONDS,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._audit = audit or Auditor(clock=clock)
        self._cause_window = timedelta(seconds=cause_window_seconds)

    def _publish(self, change: str, alarm: Alarm) -> None:
        self._bus.publish(
            events.AlarmChanged(
                station_id=alarm.station_id or StationId(""), at=self._clock.now(), change=change, alarm=alarm
            )
        )

    async def raise_alarm(
        self,
        *,
        key: str,
        source: str,
        station_id: StationId | None,
        evse: EvseRef | None,
        priority: AlarmPriority,
        message: str,
        site_id: SiteId | None = None,
        at: datetime | None = None,
    ) -> Alarm:
        """Raise the condition's alarm, or count a repeat when it is active already."""
        now = at or self._clock.now()
        async with self._store.unit() as uow:
            alarm = await uow.alarms.active(key=key)
            if alarm is not None:
                await uow.alarms.repeat(alarm_id=alarm.id, at=now, message=message, priority=priority)
                alarm = replace(alarm, count=alarm.count + 1, last_raised_at=now, message=message, priority=priority)
                change = "repeated"
            else:
                alarm = Alarm(AlarmId(0), key, source, station_id, evse, priority, message, AlarmState.ACTIVE, now, now)
                alarm.site_id = site_id
                shelf = await uow.alarms.last_shelf(key=key, now=now)
                if shelf is not None:
                    alarm.shelved_until, alarm.shelved_reason = shelf
                if station_id is not None:
                    maintenance = await uow.alarms.maintenance(station_id=station_id)
                    alarm.suppressed = maintenance is not None and maintenance.active(now)
                    recent = AlarmFilter(state=AlarmState.ACTIVE, station_id=station_id, since=now - self._cause_window)
                    alarm.cause_id = first_cause(await uow.alarms.list(where=recent), source=source, evse=evse)
                alarm = await uow.alarms.add(alarm=alarm)
                change = "raised"
        if change == "raised":
            log.warning("%s: alarm %s (P%d) raised: %s", station_id or "-", key, priority, message)
        self._publish(change, alarm)
        return alarm

    async def clear(self, *, key: str) -> Alarm | None:
        """The condition ended; its alarm (if any) stays in the history."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            alarm = await uow.alarms.active(key=key)
            if alarm is None:
                return None
            await uow.alarms.clear(alarm_id=alarm.id, at=now)
        alarm = replace(alarm, state=AlarmState.CLEARED, cleared_at=now)
        log.info("%s: alarm %s cleared", alarm.station_id or "-", key)
        self._publish("cleared", alarm)
        return alarm

    async def get(self, *, alarm_id: AlarmId) -> Alarm:
        async with self._store.unit() as uow:
            alarm = await uow.alarms.get(alarm_id=alarm_id)
        if alarm is None:
            raise UnknownAlarm(f"no alarm {alarm_id}")
        return alarm

    async def list(self, *, where: AlarmFilter) -> list[Alarm]:
        async with self._store.unit() as uow:
            return await uow.alarms.list(where=where)

    async def active_keys(self) -> dict[str, AlarmId]:
        async with self._store.unit() as uow:
            return await uow.alarms.active_keys()

    async def acknowledge(self, *, alarm_id: AlarmId, by: str, comment: str | None = None) -> Alarm:
        """The operator has seen it; alarms of one-off events (LATCHED_SOURCES) end with that. Audited."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            alarm = await uow.alarms.get(alarm_id=alarm_id)
            if alarm is None:
                raise UnknownAlarm(f"no alarm {alarm_id}")
            done = await self._acknowledge_in(uow, alarm, by=by, comment=comment, at=now)
            if done is None:
                raise AlarmConflict(f"alarm {alarm_id} was acknowledged by {alarm.acknowledged_by} already")
            await self._audit_acknowledged(uow, [done[0]], by=by, comment=comment, how="single")
        self._announce(*done, by=by)
        return done[1]

    async def acknowledge_group(
        self, *, alarm_id: AlarmId, by: str, comment: str | None = None
    ) -> builtins.list[Alarm]:
        """Acknowledge an alarm and the unacknowledged alarms recorded as its consequences, in one transaction; the
        alarms acknowledged now, the given one first. Nothing left to acknowledge in the group is a conflict."""
        now = self._clock.now()
        done: list[tuple[Alarm, Alarm]] = []
        async with self._store.unit() as uow:
            alarm = await uow.alarms.get(alarm_id=alarm_id)
            if alarm is None:
                raise UnknownAlarm(f"no alarm {alarm_id}")
            for member in [alarm, *await uow.alarms.consequences(cause_id=alarm.id)]:
                acknowledged = await self._acknowledge_in(uow, member, by=by, comment=comment, at=now)
                if acknowledged is not None:
                    done.append(acknowledged)
            if not done:
                raise AlarmConflict(f"alarm {alarm_id} and its consequences were acknowledged already")
            await self._audit_acknowledged(uow, [seen for seen, _ in done], by=by, comment=comment, how="group")
        for seen, ended in done:
            self._announce(seen, ended, by=by)
        return [ended for _, ended in done]

    async def acknowledge_many(
        self, *, alarm_ids: Sequence[AlarmId] | None, by: str, comment: str | None = None
    ) -> builtins.list[Alarm]:  # `list` here is the method above
        """Acknowledge the given alarms, or (None) every standing unacknowledged one, in one transaction.

        One comment goes to each. An alarm someone acknowledged meanwhile is left as it is (not an error:
        the operator's intent holds); an unknown id fails the whole request, so nothing half-done is left.
        """
        now = self._clock.now()
        if alarm_ids is not None:
            if not alarm_ids:
                raise InvalidArgument("select at least one alarm to acknowledge", field="ids")
            if len(set(alarm_ids)) > ACKNOWLEDGE_MANY:
                raise InvalidArgument(f"acknowledge at most {ACKNOWLEDGE_MANY} alarms at once", field="ids")
        done: list[tuple[Alarm, Alarm]] = []
        async with self._store.unit() as uow:
            if alarm_ids is None:
                where = AlarmFilter(standing=True, unacknowledged=True, limit=ACKNOWLEDGE_MANY)
                alarms = await uow.alarms.list(where=where)
            else:
                alarms = []
                for alarm_id in dict.fromkeys(alarm_ids):
                    alarm = await uow.alarms.get(alarm_id=alarm_id)
                    if alarm is None:
                        raise UnknownAlarm(f"no alarm {alarm_id}; reload the list and select again", field="ids")
                    alarms.append(alarm)
            for alarm in alarms:
                acknowledged = await self._acknowledge_in(uow, alarm, by=by, comment=comment, at=now)
                if acknowledged is not None:
                    done.append(acknowledged)
            await self._audit_acknowledged(uow, [seen for seen, _ in done], by=by, comment=comment, how="bulk")
        for seen, ended in done:
            self._announce(seen, ended, by=by)
        return [ended for _, ended in done]

    async def _acknowledge_in(
        self, uow: AlarmUnit, alarm: Alarm, *, by: str, comment: str | None, at: datetime
    ) -> tuple[Alarm, Alarm] | None:
        """Record the acknowledgement inside the caller's unit of work: the alarm as acknowledged and as it ends up
        (a one-off event's alarm clears with it); None when it was acknowledged already."""
        text = _append(alarm.comment, by, comment) if comment and comment.strip() else alarm.comment
        if not await uow.alarms.acknowledge(alarm_id=alarm.id, at=at, by=by, comment=text):
            return None
        seen = replace(alarm, acknowledged_at=at, acknowledged_by=by, comment=text)
        if seen.state == AlarmState.ACTIVE and seen.source in LATCHED_SOURCES:
            await uow.alarms.clear(alarm_id=alarm.id, at=at)
            return seen, replace(seen, state=AlarmState.CLEARED, cleared_at=at)
        return seen, seen

    async def _audit_acknowledged(
        self, uow: AlarmUnit, alarms: Sequence[Alarm], *, by: str, comment: str | None, how: str
    ) -> None:
        """One audit entry per alarm acknowledged, committed with the acknowledgement; `how`: single, group or bulk."""
        entries = []
        for alarm in alarms:
            details: dict[str, Any] = {"how": how, "key": alarm.key, "message": alarm.message}
            if alarm.station_id is not None:
                details["station_id"] = alarm.station_id
            if alarm.cause_id is not None:
                details["cause_id"] = int(alarm.cause_id)
            if comment and comment.strip():
                details["comment"] = comment.strip()
            entries.append(
                self._audit.entry(
                    actor=by, action="alarm.acknowledge", target_type="alarm", target_id=alarm.id, details=details
                )
            )
        if entries:
            await self._audit.record_many(uow, entries)

    def _announce(self, seen: Alarm, ended: Alarm, *, by: str) -> None:
        """After the commit: the log line and the events, as for every acknowledgement."""
        log.info("%s: alarm %d acknowledged by %s", seen.station_id or "-", seen.id, by)
        self._publish("acknowledged", seen)
        if ended is not seen:
            self._publish("cleared", ended)

    async def comment(self, *, alarm_id: AlarmId, by: str, text: str) -> Alarm:
        if not text.strip():
            raise InvalidArgument("a comment needs some text")
        async with self._store.unit() as uow:
            alarm = await uow.alarms.get(alarm_id=alarm_id)
            if alarm is None:
                raise UnknownAlarm(f"no alarm {alarm_id}")
            alarm.comment = _append(alarm.comment, by, text)
            await uow.alarms.set_comment(alarm_id=alarm_id, comment=alarm.comment)
        self._publish("commented", alarm)
        return alarm

    async def shelve(self, *, alarm_id: AlarmId, by: str, until: datetime, reason: str) -> Alarm:
        """ISA-18.2 shelving: a nuisance alarm is kept out of notifications until `until`, then comes back."""
        now = self._clock.now()
        if until <= now:
            raise InvalidArgument("a shelf must end in the future")
        if not reason.strip():
            raise InvalidArgument("shelving needs a reason")
        async with self._store.unit() as uow:
            alarm = await uow.alarms.get(alarm_id=alarm_id)
            if alarm is None:
                raise UnknownAlarm(f"no alarm {alarm_id}")
            if alarm.state != AlarmState.ACTIVE:
                raise AlarmConflict(f"alarm {alarm_id} is cleared; only an active alarm can be shelved")
            alarm.shelved_until, alarm.shelved_reason = until, f"{reason.strip()} ({by})"
            await uow.alarms.shelve(alarm_id=alarm_id, until=until, reason=alarm.shelved_reason)
        log.info("%s: alarm %d shelved by %s until %s", alarm.station_id or "-", alarm_id, by, until.isoformat())
        self._publish("shelved", alarm)
        return alarm

    async def unshelve(self, *, alarm_id: AlarmId, by: str) -> Alarm:
        async with self._store.unit() as uow:
            alarm = await uow.alarms.get(alarm_id=alarm_id)
            if alarm is None:
                raise UnknownAlarm(f"no alarm {alarm_id}")
            if alarm.shelved_until is None:
                raise AlarmConflict(f"alarm {alarm_id} is not shelved")
            await uow.alarms.shelve(alarm_id=alarm_id, until=None, reason=None)
        alarm = replace(alarm, shelved_until=None, shelved_reason=None)
        log.info("%s: alarm %d unshelved by %s", alarm.station_id or "-", alarm_id, by)
        self._publish("unshelved", alarm)
        return alarm

    async def start_maintenance(self, *, station_id: StationId, by: str, until: datetime, reason: str) -> Maintenance:
        """Take a station out of service until `until` (replacing an open period): its new alarms are suppressed."""
        now = self._clock.now()
        if until <= now:
            raise InvalidArgument("maintenance must end in the future")
        if not reason.strip():
            raise InvalidArgument("maintenance needs a reason")
        maintenance = Maintenance(station_id, now, until, reason.strip(), by)
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise UnknownStation(f"station {station_id} is not registered")
            await uow.alarms.end_maintenance(station_id=station_id, at=now, by=by)
            await uow.alarms.start_maintenance(maintenance=maintenance)
        log.info("%s: maintenance until %s by %s: %s", station_id, until.isoformat(), by, reason)
        return maintenance

    async def end_maintenance(self, *, station_id: StationId, by: str) -> None:
        """Back in service: alarms still active are notified from now on."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise UnknownStation(f"station {station_id} is not registered")
            if not await uow.alarms.end_maintenance(station_id=station_id, at=now, by=by):
                raise AlarmConflict(f"station {station_id} is not in maintenance")
            alarms = await uow.alarms.unsuppress(station_id=station_id)
        log.info("%s: maintenance ended by %s", station_id, by)
        for alarm in alarms:
            self._publish("unsuppressed", alarm)

    async def maintenance(self, *, station_id: StationId) -> Maintenance | None:
        """The station's maintenance period in force now, if any."""
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise UnknownStation(f"station {station_id} is not registered")
            maintenance = await uow.alarms.maintenance(station_id=station_id)
        return maintenance if maintenance is not None and maintenance.active(self._clock.now()) else None

    async def expire(self) -> None:
        """End shelves and maintenance periods whose time is up (the engine's timer calls this)."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            shelved = await uow.alarms.shelves_due(now=now)
            for alarm in shelved:
                await uow.alarms.shelve(alarm_id=alarm.id, until=None, reason=None)
        for alarm in shelved:
            if alarm.state == AlarmState.ACTIVE:
                self._publish("unshelved", replace(alarm, shelved_until=None, shelved_reason=None))
        async with self._store.unit() as uow:
            due = await uow.alarms.maintenances_due(now=now)
        for maintenance in due:
            async with self._store.unit() as uow:
                await uow.alarms.end_maintenance(station_id=maintenance.station_id, at=maintenance.until, by="expired")
                alarms = await uow.alarms.unsuppress(station_id=maintenance.station_id)
            log.info("%s: maintenance period ended", maintenance.station_id)
            for alarm in alarms:
                self._publish("unsuppressed", alarm)
