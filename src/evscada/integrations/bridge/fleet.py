"""The fleet as a SCADA sees it, kept current from the core's events: each bridge holds one and turns its changes
into MQTT publications or OPC UA values. Loaded once from the database at start, then events only."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from evscada.core import events
from evscada.core.alarms.service import AlarmFilter
from evscada.core.charging.queries import StationView, TransactionFilter
from evscada.core.control.commands import RemoteStop
from evscada.core.errors import NotFound
from evscada.core.model import AlarmState, SiteId, StationId, TransactionPk, TransactionState
from evscada.core.services import Core
from evscada.integrations.bridge.commands import CommandRefused

log = logging.getLogger(__name__)

# Connector states that mean a station needs someone: they win when a station's EVSEs disagree.
_FAULTED = frozenset({"Faulted"})
_CHARGING = frozenset({"Charging", "Occupied", "SuspendedEV", "SuspendedEVSE", "Preparing", "Finishing"})


@dataclass(slots=True)
class SessionLive:
    transaction_pk: TransactionPk
    station_transaction_id: str | None
    started_at: datetime | None
    energy_wh: float | None = None  # delivered so far: register now minus register at start


@dataclass(slots=True)
class EvseLive:
    evse_id: int
    status: str = "Unknown"
    error_code: str | None = None
    power_w: float | None = None
    energy_wh: float | None = None  # the meter's import register
    current_a: float | None = None
    voltage_v: float | None = None
    soc_pct: float | None = None
    telemetry_at: datetime | None = None
    session: SessionLive | None = None
    meter_start_wh: float | None = None


@dataclass(slots=True)
class StationLive:
    station_id: StationId
    site_id: SiteId | None = None
    site_name: str | None = None
    name: str | None = None
    online: bool = False
    ocpp_version: str | None = None
    evses: dict[int, EvseLive] = field(default_factory=dict)
    active_alarms: set[int] = field(default_factory=set)
    changed_at: datetime | None = None

    @property
    def state(self) -> str:
        """One word for the whole station: Offline, Faulted, Charging, Available (or Unknown before a report)."""
        if not self.online:
            return "Offline"
        statuses = {evse.status for evse in self.evses.values()}
        if statuses & _FAULTED:
            return "Faulted"
        if statuses & _CHARGING:
            return "Charging"
        if "Available" in statuses:
            return "Available"
        return "Unavailable" if "Unavailable" in statuses else "Unknown"

    def evse(self, evse_id: int) -> EvseLive:
        found = self.evses.get(evse_id)
        if found is None:
            found = self.evses[evse_id] = EvseLive(evse_id)
        return found

    def power_w(self) -> float:
        return sum(evse.power_w or 0.0 for evse in self.evses.values() if evse.session is not None)


ChangeKind = Literal["station", "evse", "telemetry", "alarm", "session", "site"]


@dataclass(frozen=True, slots=True)
class Change:
    """What an event changed, for a bridge to publish: the station, one EVSE's state or telemetry, an alarm ..."""

    kind: ChangeKind
    station: StationLive
    evse: EvseLive | None = None
    event: events.Event | None = None
    previous_site: SiteId | None = None  # kind "site": where its retained topics were before


class FleetView:
    def __init__(self, core: Core) -> None:
        self._core = core
        self.stations: dict[StationId, StationLive] = {}

    async def load(self) -> None:
        """Every station with its site, connectors, running sessions and active alarms, as the database has them."""
        for view in await self._core.queries.stations():
            self._take(view)
        running = await self._core.queries.transactions(
            where=TransactionFilter(state=TransactionState.RUNNING, limit=10_000)
        )
        for tx in running:
            station = self.stations.get(tx.station_id)
            if station is not None:
                evse = station.evse(tx.evse.evse_id)
                evse.session = SessionLive(tx.pk, tx.station_transaction_id, tx.started_at)
                evse.meter_start_wh = tx.meter_start
        for alarm in await self._core.alarms.list(where=AlarmFilter(state=AlarmState.ACTIVE, limit=100_000)):
            if alarm.station_id in self.stations:
                self.stations[alarm.station_id].active_alarms.add(int(alarm.id))

    def _take(self, view: StationView) -> StationLive:
        s = view.station
        station = self.stations.get(s.id) or StationLive(s.id)
        station.site_id, station.site_name, station.name = s.site_id, view.site.name if view.site else None, s.name
        station.online, station.ocpp_version, station.changed_at = s.online, s.ocpp_version, s.last_seen
        for connector in view.connectors:
            if connector.evse_id > 0:
                evse = station.evse(connector.evse_id)
                evse.status, evse.error_code = connector.status, connector.error_code
        self.stations[s.id] = station
        return station

    async def refresh(self, station_id: StationId) -> list[Change]:
        """Read one station again (its site may have changed, or it is new): a "site" change if it moved."""
        try:
            view = await self._core.queries.station(station_id=station_id)
        except NotFound:
            return []
        before = self.stations.get(station_id)
        previous = before.site_id if before is not None else None
        moved = before is not None and previous != view.station.site_id
        station = self._take(view)
        return [Change("site", station, previous_site=previous)] if moved else []

    async def session_id(self, station_id: StationId, transaction_pk: TransactionPk) -> str | None:
        """The station's own id of a running session (RemoteStop needs it); None once it ended."""
        running = await self._core.queries.transactions(
            where=TransactionFilter(station_id=station_id, state=TransactionState.RUNNING, limit=100)
        )
        return next((t.station_transaction_id for t in running if t.pk == transaction_pk), None)

    def stop_command(self, station_id: str, evse_id: int | None) -> RemoteStop:
        """A remote stop of the session running on an EVSE; CommandRefused when none runs there."""
        station = self.stations.get(StationId(station_id))
        evse = station.evses.get(evse_id or 0) if station is not None else None
        if evse is None or evse.session is None or evse.session.station_transaction_id is None:
            raise CommandRefused(f"no session is running on EVSE {evse_id} of {station_id}")
        return RemoteStop(station_transaction_id=evse.session.station_transaction_id)

    def apply(self, event: events.Event, *, station_transaction_id: str | None = None) -> list[Change]:
        """Update the view; what changed. Events about no known station (or no station) change nothing."""
        if isinstance(event, events.AlarmChanged):
            return self._alarm(event)
        station = self.stations.get(event.station_id)
        if station is None:
            if not event.station_id:
                return []
            station = self.stations[event.station_id] = StationLive(event.station_id)
        station.changed_at = event.at
        match event:
            case events.StationConnected():
                station.online, station.ocpp_version = True, event.ocpp_version
                return [Change("station", station, event=event)]
            case events.StationDisconnected():
                station.online = False
                return [Change("station", station, event=event)]
            case events.StationBooted():
                return [Change("station", station, event=event)]
            case events.ConnectorStatusChanged():
                return self._status(station, event)
            case events.MeterValuesRecorded() if event.evse.evse_id > 0:
                return [self._telemetry(station, event)]
            case events.TransactionStarted():
                evse = station.evse(event.evse.evse_id)
                evse.session = SessionLive(event.transaction_pk, station_transaction_id, event.at)
                evse.meter_start_wh = None
                return [Change("session", station, evse, event)]
            case events.TransactionEnded():
                return self._ended(station, event)
        return []

    def _status(self, station: StationLive, event: events.ConnectorStatusChanged) -> list[Change]:
        """One EVSE's status, or (connector 0) the whole station's."""
        whole = event.evse.evse_id == 0
        targets = list(station.evses.values()) if whole else [station.evse(event.evse.evse_id)]
        for evse in targets:
            evse.status, evse.error_code = event.status, event.error_code
        return [*(Change("evse", station, evse, event) for evse in targets), Change("station", station, event=event)]

    def _ended(self, station: StationLive, event: events.TransactionEnded) -> list[Change]:
        for evse in station.evses.values():
            if evse.session is not None and evse.session.transaction_pk == event.transaction_pk:
                evse.session, evse.power_w = None, 0.0
                return [Change("session", station, evse, event), Change("telemetry", station, evse)]
        return []

    def _telemetry(self, station: StationLive, event: events.MeterValuesRecorded) -> Change:
        evse = station.evse(event.evse.evse_id)
        evse.telemetry_at = event.at
        if event.power_w is not None:
            evse.power_w = event.power_w
        if event.energy_register_wh is not None:
            evse.energy_wh = event.energy_register_wh
            if evse.session is not None:
                if evse.meter_start_wh is None:
                    evse.meter_start_wh = event.energy_register_wh
                evse.session.energy_wh = event.energy_register_wh - evse.meter_start_wh
        if event.current_a is not None:
            evse.current_a = event.current_a
        if event.voltage_v is not None:
            evse.voltage_v = event.voltage_v
        if event.soc_pct is not None:
            evse.soc_pct = event.soc_pct
        return Change("telemetry", station, evse, event)

    def _alarm(self, event: events.AlarmChanged) -> list[Change]:
        alarm = event.alarm
        station = self.stations.get(alarm.station_id) if alarm.station_id else None
        if station is None:
            return []
        if alarm.state == AlarmState.ACTIVE:
            station.active_alarms.add(int(alarm.id))
        else:
            station.active_alarms.discard(int(alarm.id))
        return [Change("alarm", station, event=event)]
