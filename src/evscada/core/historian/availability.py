"""Availability and downtime over a period, from the status history and the connectivity history.

A connector is *down* while its station is offline or its status is Faulted or Unavailable; it is *up* in any other
status (Available, Charging, Occupied, Reserved ...). Time before the first known state in the period is *unknown*.
Availability = up time / (period - unknown time). A station is up while it is online, its station-wide status (evse
0) is neither Faulted nor Unavailable, and at least one of its connectors is up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from evscada.core.access.sites import SiteRepository
from evscada.core.errors import InvalidArgument, NotFound
from evscada.core.model import SiteId, StationId
from evscada.core.ports import Clock, Store
from evscada.core.stations.repositories import StationRepository

DOWN_STATUSES = frozenset({"Faulted", "Unavailable"})
OFFLINE = "offline"
UNKNOWN = "unknown"
MAX_PERIOD = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class ConnectivityChange:
    station_id: StationId
    online: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class StatusChange:
    station_id: StationId
    evse_id: int
    connector_id: int
    status: str
    at: datetime


class AvailabilityRepository(Protocol):
    async def connectivity(
        self, *, station_ids: list[StationId], start: datetime, end: datetime
    ) -> list[ConnectivityChange]:
        """Changes in [start, end) and each station's last change before start, oldest first."""
        ...

    async def status_changes(
        self, *, station_ids: list[StationId], start: datetime, end: datetime
    ) -> list[StatusChange]:
        """Status reports in [start, end) and each connector's last report before start, oldest first."""
        ...

    async def station_ids(self, *, site_id: SiteId | None) -> list[StationId]: ...


class AvailabilityUnit(Protocol):
    availability: AvailabilityRepository
    stations: StationRepository
    sites: SiteRepository


@dataclass(frozen=True, slots=True)
class Outage:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(slots=True)
class Availability:
    """Time per state (a status name, "offline" or "unknown"), up/down time and outages."""

    start: datetime
    end: datetime
    seconds_by_state: dict[str, float] = field(default_factory=dict)
    up_seconds: float = 0.0
    down_seconds: float = 0.0
    unknown_seconds: float = 0.0
    outages: list[Outage] = field(default_factory=list)

    @property
    def availability(self) -> float | None:
        """Up time as a fraction of the known time; None when nothing is known."""
        known = self.up_seconds + self.down_seconds
        return self.up_seconds / known if known > 0 else None


@dataclass(frozen=True, slots=True)
class ConnectorAvailability:
    evse_id: int
    connector_id: int
    availability: Availability


@dataclass(frozen=True, slots=True)
class StationAvailability:
    station_id: StationId
    station: Availability
    connectors: list[ConnectorAvailability]


# A timeline is a sorted list of (from, state); each state lasts until the next entry or the period's end.
Timeline = list[tuple[datetime, str]]


def _timeline(changes: Iterable[tuple[datetime, str]], start: datetime, end: datetime) -> Timeline:
    """Clip changes to [start, end): the last change before start sets the state at start."""
    line: Timeline = [(start, UNKNOWN)]
    for at, state in sorted(changes, key=lambda change: change[0]):
        if at >= end:
            break
        since = max(at, start)
        if line[-1][0] == since:
            line[-1] = (since, state)
        else:
            line.append((since, state))
    return line


def _combine(lines: list[Timeline], rule: Callable[[list[str]], str], start: datetime) -> Timeline:
    """One timeline whose state at each instant is rule(states of all lines at that instant), each line's state
    being its last entry at or before the instant: found by one sweep through every line rather than a scan per
    instant, since a month of a busy station has hundreds of changes."""
    instants = sorted({at for line in lines for at, _ in line} | {start})
    positions = [-1] * len(lines)  # per line: the last entry at or before the current instant
    combined: Timeline = []
    for at in instants:
        states = []
        for index, line in enumerate(lines):
            position = positions[index]
            while position + 1 < len(line) and line[position + 1][0] <= at:
                position += 1
            positions[index] = position
            states.append(line[position][1] if position >= 0 else UNKNOWN)
        combined.append((at, rule(states)))
    return combined


def _is_up(state: str) -> bool | None:
    if state == UNKNOWN:
        return None
    return state != OFFLINE and state not in DOWN_STATUSES


def _measure(line: Timeline, start: datetime, end: datetime) -> Availability:
    result = Availability(start=start, end=end)
    down_since: datetime | None = None
    bounds = [*line[1:], (end, "")]
    for (since, state), (until, _) in zip(line, bounds, strict=True):
        seconds = (until - since).total_seconds()
        if seconds <= 0:
            continue
        result.seconds_by_state[state] = result.seconds_by_state.get(state, 0.0) + seconds
        up = _is_up(state)
        if up is None:
            result.unknown_seconds += seconds
        elif up:
            result.up_seconds += seconds
        else:
            result.down_seconds += seconds
        if up is False and down_since is None:
            down_since = since
        elif up is not False and down_since is not None:
            result.outages.append(Outage(down_since, since))
            down_since = None
    if down_since is not None:
        result.outages.append(Outage(down_since, end))
    return result


def _with_connectivity(status: Timeline, online: Timeline) -> Timeline:
    """The connector's state, with "offline" wherever the station was offline."""

    def rule(states: list[str]) -> str:
        connection, report = states
        if connection == OFFLINE:
            return OFFLINE
        if connection == UNKNOWN and report == UNKNOWN:
            return UNKNOWN
        return report if report != UNKNOWN else "online"  # online, no status yet: counted up

    return _combine([online, status], rule, online[0][0])


def _station_rule(states: list[str]) -> str:
    """states[0] is the station-wide line (connectivity + evse 0 status), the rest are connectors."""
    station, *connectors = states
    if station == OFFLINE or station in DOWN_STATUSES:
        return station
    known = [s for s in connectors if s != UNKNOWN]
    if not known:
        return UNKNOWN if station == UNKNOWN else "up"
    if any(_is_up(s) for s in known):
        return "up"
    return known[0]


def station_availability(
    station_id: StationId,
    connectivity: list[ConnectivityChange],
    statuses: list[StatusChange],
    start: datetime,
    end: datetime,
) -> StationAvailability:
    online = _timeline(((c.at, "online" if c.online else OFFLINE) for c in connectivity), start, end)
    by_connector: dict[tuple[int, int], list[tuple[datetime, str]]] = {}
    for change in statuses:
        by_connector.setdefault((change.evse_id, change.connector_id), []).append((change.at, change.status))
    wide = _with_connectivity(_timeline(by_connector.pop((0, 0), []), start, end), online)
    lines: dict[tuple[int, int], Timeline] = {
        key: _with_connectivity(_timeline(changes, start, end), online) for key, changes in sorted(by_connector.items())
    }
    connectors = [
        ConnectorAvailability(evse_id, connector_id, _measure(line, start, end))
        for (evse_id, connector_id), line in lines.items()
    ]
    station_line = _combine([wide, *lines.values()], _station_rule, start)
    return StationAvailability(station_id=station_id, station=_measure(station_line, start, end), connectors=connectors)


class AvailabilityService:
    def __init__(self, *, store: Store[AvailabilityUnit], clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def _period(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        now = self._clock.now()
        end = min(end, now) if end else now  # the future is not downtime
        start = start or end - timedelta(days=30)
        if start >= end:
            raise InvalidArgument(f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()}) and now")
        if end - start > MAX_PERIOD:
            raise InvalidArgument(f"the period is longer than {MAX_PERIOD.days} days")
        return start, end

    async def station(
        self, *, station_id: StationId, start: datetime | None, end: datetime | None
    ) -> StationAvailability:
        start, end = self._period(start, end)
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise NotFound(f"no station {station_id}")
            return (await self._compute(uow.availability, [station_id], start, end))[0]

    async def fleet(
        self, *, site_id: SiteId | None, start: datetime | None, end: datetime | None
    ) -> tuple[datetime, datetime, list[StationAvailability]]:
        start, end = self._period(start, end)
        async with self._store.unit() as uow:
            if site_id is not None and await uow.sites.get(site_id=site_id) is None:
                raise NotFound(f"no site {site_id}")
            ids = await uow.availability.station_ids(site_id=site_id)
            return start, end, await self._compute(uow.availability, ids, start, end)

    @staticmethod
    async def _compute(
        repo: AvailabilityRepository, ids: list[StationId], start: datetime, end: datetime
    ) -> list[StationAvailability]:
        if not ids:
            return []
        connectivity = await repo.connectivity(station_ids=ids, start=start, end=end)
        statuses = await repo.status_changes(station_ids=ids, start=start, end=end)
        by_station_c: dict[StationId, list[ConnectivityChange]] = {}
        for c in connectivity:
            by_station_c.setdefault(c.station_id, []).append(c)
        by_station_s: dict[StationId, list[StatusChange]] = {}
        for s in statuses:
            by_station_s.setdefault(s.station_id, []).append(s)
        return [
            station_availability(sid, by_station_c.get(sid, []), by_station_s.get(sid, []), start, end) for sid in ids
        ]
