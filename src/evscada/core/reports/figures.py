"""The figures of a KPI report, computed from rows storage has already aggregated (pure functions, no I/O).

Sessions are the transactions that *started* in the period. A session failed when its authorization was refused, when
it ended without energy, or when a fault ended it (FAILED_STOP_REASONS); the others that ended succeeded; sessions
still running at the period's end are counted apart. Availability reuses core/historian/availability.py.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from evscada.core.historian.availability import StationAvailability

ACCEPTED = "Accepted"
# Stop reasons (OCPP 1.6 Reason, 2.0.1 ReasonEnumType) that mean the session was cut short by a fault or the grid.
FAILED_STOP_REASONS = frozenset(
    {
        "EmergencyStop",
        "PowerLoss",
        "GroundFault",
        "OvercurrentFault",
        "PowerQuality",
        "HardReset",
        "SoftReset",
        "ImmediateReset",
        "Reboot",
        "Timeout",
        "DeAuthorized",
        "ReqEnergyTransferRejected",
    }
)
# Alarm sources whose clearing is a repair: the mean time to repair is their mean time from raised to cleared.
REPAIR_SOURCES = frozenset({"station_fault", "offline", "component"})
TOP = 10  # rows in each "most ..." table
OUTAGE_ROWS = 1000  # the longest outages listed (counts and durations above cover them all)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One transaction as storage reads it, with the peak power the historian saw on its connector."""

    pk: int
    station_id: str
    evse_id: int | None
    connector_id: int | None
    started_at: datetime
    ended_at: datetime | None
    energy_wh: float | None
    auth_status: str | None
    stop_reason: str | None
    vehicle: str | None
    fleet: str | None
    site: str | None
    peak_power_w: float | None = None
    last_soc_pct: float | None = None  # the last state of charge reported during the session
    target_soc_pct: float | None = None  # the vehicle's target SoC


@dataclass(frozen=True, slots=True)
class AlarmRow:
    id: int
    station_id: str | None
    source: str
    priority: int
    raised_at: datetime
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    shelved_until: datetime | None


def outcome_of(row: SessionRow) -> tuple[str, str]:
    """("ok" | "failed" | "running", reason): the reason is empty for a success."""
    if row.auth_status not in (None, ACCEPTED):
        return "failed", f"authorization {row.auth_status}"
    if row.ended_at is None:
        return "running", ""
    if row.stop_reason in FAILED_STOP_REASONS:
        return "failed", f"stopped: {row.stop_reason}"
    if not row.energy_wh:
        return "failed", "no energy delivered"
    return "ok", ""


@dataclass(slots=True)
class EnergyFigures:
    total_wh: float = 0.0
    by_site: dict[str, float] = field(default_factory=dict)
    by_station: dict[str, float] = field(default_factory=dict)
    by_vehicle: dict[str, float] = field(default_factory=dict)
    by_fleet: dict[str, float] = field(default_factory=dict)
    mean_session_wh: float | None = None
    mean_duration_s: float | None = None
    mean_power_w: float | None = None
    peak_power_w: float | None = None
    heat_map: list[list[float]] = field(default_factory=lambda: [[0.0] * 24 for _ in range(7)])  # [weekday][hour]
    heat_map_source: str = "historian"  # historian: the energy registers' 15-minute buckets; sessions: spread


@dataclass(slots=True)
class SessionFigures:
    count: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)
    failing_stations: list[tuple[str, int]] = field(default_factory=list)  # most failures first

    @property
    def failure_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.failed / finished if finished else None


@dataclass(frozen=True, slots=True)
class StationUptime:
    station_id: str
    availability: float | None  # None: nothing known in the period
    down_seconds: float
    outages: int
    longest_outage_s: float
    connectors: tuple[tuple[int, int, float | None], ...]  # (evse, connector, availability)


@dataclass(slots=True)
class AvailabilityFigures:
    target: float
    fleet: float | None = None  # up time over known time, all stations together
    stations: list[StationUptime] = field(default_factory=list)  # least available first
    below_target: int = 0
    outages: int = 0
    outage_seconds: float = 0.0
    mttr_s: float | None = None
    repairs: int = 0
    longest_outages: list[tuple[str, datetime, datetime]] = field(default_factory=list)  # (station, from, to)


@dataclass(slots=True)
class AlarmFigures:
    raised: int = 0
    by_priority: dict[int, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0
    mean_ack_s: float | None = None
    median_ack_s: float | None = None
    top_stations: list[tuple[str, int]] = field(default_factory=list)
    standing_at_end: int = 0
    shelved_at_end: int = 0


@dataclass(slots=True)
class DepotFigures:
    vehicles_with_target: int = 0
    sessions_checked: int = 0
    below_target: list[tuple[str, str, float, float, datetime]] = field(
        default_factory=list
    )  # (vehicle, station, last SoC, target, ended)
    note: str = ""


@dataclass(slots=True)
class Headline:
    """The figures the previous-period comparison and the summary speak of."""

    energy_wh: float
    sessions: int
    failed: int
    availability: float | None
    alarms: int


def energy_figures(rows: Sequence[SessionRow]) -> EnergyFigures:
    result = EnergyFigures()
    durations: list[float] = []
    powers: list[float] = []
    energies: list[float] = []
    peaks: list[float] = []
    for row in rows:
        energy = row.energy_wh or 0.0
        result.total_wh += energy
        _add(result.by_site, row.site or "(no site)", energy)
        _add(result.by_station, row.station_id, energy)
        if row.vehicle:
            _add(result.by_vehicle, row.vehicle, energy)
        _add(result.by_fleet, row.fleet or "(no fleet)", energy)
        if row.ended_at is not None and row.energy_wh is not None:
            energies.append(energy)
            seconds = (row.ended_at - row.started_at).total_seconds()
            durations.append(seconds)
            if seconds > 0:
                powers.append(energy * 3600 / seconds)
        if row.peak_power_w is not None:
            peaks.append(row.peak_power_w)
    result.total_wh = round(result.total_wh, 3)
    result.mean_session_wh = statistics.fmean(energies) if energies else None
    result.mean_duration_s = statistics.fmean(durations) if durations else None
    result.mean_power_w = statistics.fmean(powers) if powers else None
    result.peak_power_w = max(peaks) if peaks else None
    return result


def _add(totals: dict[str, float], key: str, value: float) -> None:
    totals[key] = round(totals.get(key, 0.0) + value, 3)


def heat_map_from_buckets(buckets: Iterable[tuple[datetime, float]], zone: ZoneInfo) -> list[list[float]]:
    """Energy (Wh) per local weekday and hour from (bucket start UTC, Wh) pairs: a 15-minute bucket lies in one local
    hour in every zone (their offsets are whole quarter hours)."""
    grid = [[0.0] * 24 for _ in range(7)]
    for start, wh in buckets:
        local = start.astimezone(zone)
        grid[local.weekday()][local.hour] += wh
    return grid


def heat_map_from_sessions(rows: Iterable[SessionRow], zone: ZoneInfo, end: datetime) -> list[list[float]]:
    """When the historian has no energy buckets: each session's energy spread evenly over its duration."""
    grid = [[0.0] * 24 for _ in range(7)]
    for row in rows:
        if not row.energy_wh:
            continue
        stop = row.ended_at or end
        seconds = (stop - row.started_at).total_seconds()
        if seconds <= 0:
            local = row.started_at.astimezone(zone)
            grid[local.weekday()][local.hour] += row.energy_wh
            continue
        at = row.started_at
        while at < stop:
            local = at.astimezone(zone)
            hour_end = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).astimezone(UTC)
            until = min(hour_end if hour_end > at else at + timedelta(hours=1), stop)
            grid[local.weekday()][local.hour] += row.energy_wh * (until - at).total_seconds() / seconds
            at = until
    return grid


def session_figures(rows: Sequence[SessionRow]) -> SessionFigures:
    result = SessionFigures(count=len(rows))
    reasons: Counter[str] = Counter()
    stations: Counter[str] = Counter()
    for row in rows:
        outcome, reason = outcome_of(row)
        if outcome == "ok":
            result.succeeded += 1
        elif outcome == "running":
            result.running += 1
        else:
            result.failed += 1
            reasons[reason] += 1
            stations[row.station_id] += 1
    result.failure_reasons = dict(reasons.most_common())
    result.failing_stations = stations.most_common(TOP)
    return result


def availability_figures(
    stations: Sequence[StationAvailability], alarms: Sequence[AlarmRow], *, target: float, start: datetime
) -> AvailabilityFigures:
    result = AvailabilityFigures(target=target)
    up = known = 0.0
    for station in stations:
        a = station.station
        up += a.up_seconds
        known += a.up_seconds + a.down_seconds
        result.outages += len(a.outages)
        result.outage_seconds += sum(o.seconds for o in a.outages)
        value = a.availability
        if value is not None and value < target:
            result.below_target += 1
        result.stations.append(
            StationUptime(
                station_id=station.station_id,
                availability=value,
                down_seconds=a.down_seconds,
                outages=len(a.outages),
                longest_outage_s=max((o.seconds for o in a.outages), default=0.0),
                connectors=tuple((c.evse_id, c.connector_id, c.availability.availability) for c in station.connectors),
            )
        )
    result.fleet = up / known if known else None
    spells = [(station.station_id, o.start, o.end) for station in stations for o in station.station.outages]
    result.longest_outages = sorted(spells, key=lambda o: (o[1] - o[2], o[0]))[:OUTAGE_ROWS]
    result.stations.sort(key=lambda s: (s.availability if s.availability is not None else 2.0, s.station_id))
    repairs = [
        (a.cleared_at - a.raised_at).total_seconds()
        for a in alarms
        if a.source in REPAIR_SOURCES and a.cleared_at is not None and a.cleared_at >= start
    ]
    result.repairs = len(repairs)
    result.mttr_s = statistics.fmean(repairs) if repairs else None
    return result


def alarm_figures(rows: Sequence[AlarmRow], *, start: datetime, end: datetime) -> AlarmFigures:
    """Alarms raised in [start, end), and those standing (active or unacknowledged) or shelved at `end`."""
    result = AlarmFigures()
    priorities: Counter[int] = Counter()
    sources: Counter[str] = Counter()
    stations: Counter[str] = Counter()
    waits: list[float] = []
    for row in rows:
        if row.raised_at >= end:
            continue
        if row.raised_at >= start:
            result.raised += 1
            priorities[row.priority] += 1
            sources[row.source] += 1
            if row.station_id:
                stations[row.station_id] += 1
            if row.acknowledged_at is not None and row.acknowledged_at < end:
                result.acknowledged += 1
                waits.append((row.acknowledged_at - row.raised_at).total_seconds())
        active = row.cleared_at is None or row.cleared_at >= end
        unacknowledged = row.acknowledged_at is None or row.acknowledged_at >= end
        if active or unacknowledged:
            result.standing_at_end += 1
        if row.shelved_until is not None and row.shelved_until > end:
            result.shelved_at_end += 1
    result.by_priority = dict(sorted(priorities.items()))
    result.by_source = dict(sources.most_common())
    result.top_stations = stations.most_common(TOP)
    result.mean_ack_s = statistics.fmean(waits) if waits else None
    result.median_ack_s = statistics.median(waits) if waits else None
    return result


def depot_figures(rows: Sequence[SessionRow]) -> DepotFigures:
    """Vehicles with a target SoC whose session ended below it (by the last SoC reported): the CSMS does not record
    when a bus actually left, so the end of its charging session stands for its departure."""
    result = DepotFigures(
        note="Departures are not recorded: a session's end stands for the bus's departure, and its last reported "
        "state of charge is compared with the vehicle's target SoC."
    )
    vehicles: set[str] = set()
    for row in rows:
        if row.target_soc_pct is None or row.vehicle is None or row.ended_at is None:
            continue
        vehicles.add(row.vehicle)
        if row.last_soc_pct is None:
            continue
        result.sessions_checked += 1
        if row.last_soc_pct < row.target_soc_pct:
            result.below_target.append(
                (row.vehicle, row.station_id, row.last_soc_pct, row.target_soc_pct, row.ended_at)
            )
    result.vehicles_with_target = len(vehicles)
    result.below_target.sort(key=lambda b: b[4])
    return result


@dataclass(slots=True)
class ReportFigures:
    title: str
    scope: str
    period_label: str
    start: datetime
    end: datetime
    zone: str
    energy: EnergyFigures
    sessions: SessionFigures
    availability: AvailabilityFigures
    alarms: AlarmFigures
    depots: DepotFigures
    session_rows: list[SessionRow]
    headline: Headline
    previous: Headline | None = None
    summary: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The figures for the API and the console's preview (the session rows stay in the files)."""
        return {
            "title": self.title,
            "scope": self.scope,
            "period": self.period_label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "time_zone": self.zone,
            "summary": self.summary,
            "headline": _plain(self.headline),
            "previous": _plain(self.previous) if self.previous else None,
            "energy": _plain(self.energy),
            "sessions": {**_plain(self.sessions), "failure_rate": self.sessions.failure_rate},
            "availability": _plain(self.availability),
            "alarms": _plain(self.alarms),
            "depots": _plain(self.depots),
        }


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def headline(energy: EnergyFigures, sessions: SessionFigures, availability: float | None, alarms: int) -> Headline:
    return Headline(
        energy_wh=energy.total_wh,
        sessions=sessions.count,
        failed=sessions.failed,
        availability=availability,
        alarms=alarms,
    )


def change(now: float | None, before: float | None) -> str:
    """ "+12 %" / "-3 %" / "new" / "" for the comparison with the previous period."""
    if now is None or before is None:
        return ""
    if before == 0:
        return "new" if now else "0 %"
    return f"{(now - before) / before * 100:+.0f} %"


def summary_lines(figures: ReportFigures) -> list[str]:
    """A manager's minute: what was delivered, how reliably, how available, what went wrong most."""
    e, s, a, al = figures.energy, figures.sessions, figures.availability, figures.alarms
    previous = figures.previous
    lines = [
        f"{e.total_wh / 1000:,.1f} kWh delivered in {s.count:,} sessions"
        + (
            f" ({change(e.total_wh, previous.energy_wh)} energy, {change(s.count, previous.sessions)} sessions "
            "against the previous period)."
            if previous
            else "."
        )
    ]
    if s.succeeded + s.failed:
        rate = s.failure_rate or 0.0
        reason = next(iter(s.failure_reasons), None)
        lines.append(
            f"{s.failed:,} sessions failed ({rate * 100:.1f} %)"
            + (f"; the most common reason: {reason}." if reason else ".")
        )
    if a.fleet is not None:
        lines.append(
            f"Availability {a.fleet * 100:.2f} % against a target of {a.target * 100:.0f} %; "
            f"{a.below_target} station(s) below target, {a.outages} outage(s)"
            + (f", mean time to repair {a.mttr_s / 3600:.1f} h." if a.mttr_s is not None else ".")
        )
    else:
        lines.append("No status or connectivity history in the period: availability is unknown.")
    lines.append(
        f"{al.raised:,} alarms raised"
        + (f", acknowledged after {al.median_ack_s / 60:.0f} min (median)" if al.median_ack_s is not None else "")
        + f"; {al.standing_at_end} standing and {al.shelved_at_end} shelved at the period's end."
    )
    if figures.depots.below_target:
        lines.append(f"{len(figures.depots.below_target)} bus charging session(s) ended below the target SoC.")
    return lines
