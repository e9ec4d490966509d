"""Station summaries as operators see them: one state word per station and connector, place, live readings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evscada.core.charging.queries import ConnectorView
from evscada.core.historian.monitoring import LiveReading
from evscada.core.model import RegistrationStatus, Site, Station, StationId, Vehicle
from evscada.core.services import Core

# The map's colours, worst first: a cluster takes the colour of its worst station.
STATES = ("faulted", "offline", "unavailable", "pending", "charging", "available")
IN_USE = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE", "Preparing", "Finishing", "Occupied"})


def connector_state(status: str) -> str:
    if status == "Faulted":
        return "faulted"
    if status == "Unavailable":
        return "unavailable"
    if status in IN_USE:
        return "charging"
    return "available"


def station_state(station: Station, connectors: Sequence[ConnectorView]) -> str:
    if station.registration != RegistrationStatus.ACCEPTED:
        return "pending"
    if not station.online:
        return "offline"
    states = {connector_state(c.status) for c in connectors}
    whole = [connector_state(c.status) for c in connectors if c.evse_id == 0]
    if "faulted" in states:
        return "faulted"
    if "charging" in states:
        return "charging"
    points = [c for c in connectors if c.evse_id != 0]
    if "unavailable" in whole or (points and all(connector_state(c.status) == "unavailable" for c in points)):
        return "unavailable"
    return "available"


@dataclass(frozen=True, slots=True)
class ConnectorSummary:
    connector: ConnectorView
    state: str
    reading: LiveReading | None
    vehicle: Vehicle | None

    @property
    def running_seconds(self) -> float | None:
        if self.reading is None or self.reading.transaction.started_at is None:
            return None
        return (datetime.now(UTC) - self.reading.transaction.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class StationSummary:
    station: Station
    site: Site | None
    state: str
    connectors: list[ConnectorSummary]
    latitude: float | None  # its own location, else its site's
    longitude: float | None

    @property
    def power_w(self) -> float | None:
        values = [c.reading.power_w for c in self.connectors if c.reading and c.reading.power_w is not None]
        return sum(values) if values else None

    @property
    def title(self) -> str:
        return self.station.name or self.station.id


async def summaries(core: Core, station_ids: Sequence[StationId] | None = None) -> list[StationSummary]:
    """Every station (or these) with its state, place and what its connectors do now."""
    if station_ids is not None and len(station_ids) == 1:
        views = [await core.queries.station(station_id=station_ids[0])]
    else:
        wanted = set(station_ids) if station_ids is not None else None
        views = [v for v in await core.queries.stations() if wanted is None or v.station.id in wanted]
    sites = {s.id: s for s in await core.sites.list()}
    vehicles = {v.id: v for v in await core.vehicles.list()}
    live = await core.monitoring.live(station_ids=[v.station.id for v in views] if station_ids is not None else None)
    readings = {(r.transaction.station_id, r.transaction.evse.evse_id): r for r in live}
    found = []
    for view in views:
        s = view.station
        site = sites.get(s.site_id) if s.site_id is not None else None
        connectors = []
        for c in view.connectors:
            if c.evse_id == 0:
                continue
            reading = readings.get((s.id, c.evse_id)) if c.connector_id <= 1 or c.status in IN_USE else None
            vehicle_id = reading.vehicle_id if reading else None
            connectors.append(
                ConnectorSummary(
                    connector=c,
                    state=connector_state(c.status) if s.online else "offline",
                    reading=reading,
                    vehicle=vehicles.get(vehicle_id) if vehicle_id is not None else None,
                )
            )
        lat, lon = s.latitude, s.longitude
        if lat is None and site is not None:
            lat, lon = site.latitude, site.longitude
        found.append(
            StationSummary(
                station=s,
                site=site,
                state=station_state(s, view.connectors),
                connectors=connectors,
                latitude=lat,
                longitude=lon,
            )
        )
    return found


def as_json(summary: StationSummary) -> dict[str, Any]:
    s = summary.station
    return {
        "id": s.id,
        "name": summary.title,
        "state": summary.state,
        "site_id": s.site_id,
        "site": summary.site.name if summary.site else None,
        "lat": summary.latitude,
        "lon": summary.longitude,
        "online": s.online,
        "power_w": summary.power_w,
        "connectors": [
            {
                "evse_id": c.connector.evse_id,
                "connector_id": c.connector.connector_id,
                "status": c.connector.status,
                "state": c.state,
                "error_code": c.connector.error_code,
                "power_w": c.reading.power_w if c.reading else None,
            }
            for c in summary.connectors
        ],
    }


def counts(items: Sequence[StationSummary]) -> dict[str, int]:
    result = dict.fromkeys(STATES, 0)
    for item in items:
        result[item.state] += 1
    return result
