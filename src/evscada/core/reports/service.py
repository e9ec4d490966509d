"""Making, keeping and scheduling KPI reports.

A report is computed from storage's aggregates (ReportReads), rendered to XLSX and PDF off the event loop, and its
bytes kept in the file store under a "report-" key next to its row. Scheduled reports are claimed in report_runs,
whose unique (kind, period_start, scope) key makes each due report once even when two processes, or a restart after
a missed run, reach it at the same time.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from evscada.core.errors import InvalidArgument, NotFound
from evscada.core.files.store import FileStore
from evscada.core.historian.availability import (
    AvailabilityRepository,
    ConnectivityChange,
    StationAvailability,
    StatusChange,
    station_availability,
)
from evscada.core.model import StationId
from evscada.core.ports import Clock, Store
from evscada.core.reports import figures as f
from evscada.core.reports.periods import Period, ReportKind, Schedule

log = logging.getLogger(__name__)

FORMATS = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}
KEY_PREFIX = "report-"
MAX_REPORT_BYTES = 512 << 20
CATCH_UP = 6  # at most this many missed periods of each kind are made after a long stop
BASELINE = "baseline: the schedule began after this period"
STALE_CLAIM = timedelta(hours=1)  # a scheduled run claimed this long ago and never finished: the process died


class Trigger(enum.StrEnum):
    SCHEDULE = "schedule"
    ON_DEMAND = "on_demand"


@dataclass(frozen=True, slots=True)
class Scope:
    """What a report covers: the whole fleet, one site, or a station group named in the settings."""

    kind: str  # fleet | site | group
    value: str = ""

    @classmethod
    def parse(cls, text: str, groups: dict[str, list[str]]) -> Scope:
        name, _, value = text.strip().partition(":")
        if name == "fleet" and not value:
            return cls("fleet")
        if name == "site" and value.isdigit():
            return cls("site", value)
        if name == "group" and value:
            if value not in groups:
                known = ", ".join(sorted(groups)) or "none are set"
                raise InvalidArgument(f"no station group {value!r} in [reports] station_groups ({known})")
            return cls("group", value)
        raise InvalidArgument(f"{text!r} is not a report scope; use 'fleet', 'site:<site id>' or 'group:<name>'")

    def __str__(self) -> str:
        return self.kind if self.kind == "fleet" else f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class ReportConfig:
    schedule: Schedule = field(default_factory=lambda: Schedule(zone=ZoneInfo("UTC")))
    scopes: tuple[str, ...] = ("fleet",)
    availability_target: float = 0.97
    retention: timedelta | None = timedelta(days=730)
    subscribers: tuple[str, ...] = ()
    station_groups: dict[str, list[str]] = field(default_factory=dict)
    session_rows: int = 50_000  # per-session rows in the XLSX; the transaction export has them all
    console_url: str | None = None  # where a report's link in an e-mail points


@dataclass(slots=True)
class Report:
    id: int
    kind: ReportKind
    scope: str
    period_start: datetime
    period_end: datetime
    time_zone: str
    trigger: Trigger
    requested_by: str
    made_at: datetime
    title: str
    summary: dict[str, Any]  # ReportFigures.as_json()
    xlsx_key: str
    pdf_key: str
    xlsx_bytes: int
    pdf_bytes: int


@dataclass(frozen=True, slots=True)
class ScopeStations:
    """The stations a scope covers, with their site names (storage answers it)."""

    station_ids: list[str]
    label: str


class ReportReads(Protocol):
    """Aggregated reads for a report: SQL does the summing, Python sees one row per session or alarm."""

    async def scope_stations(self, *, scope: Scope, groups: dict[str, list[str]]) -> ScopeStations | None:
        """None: the site does not exist."""
        ...

    async def sessions(self, *, station_ids: list[str], start: datetime, end: datetime) -> list[f.SessionRow]: ...

    async def energy_buckets(
        self, *, station_ids: list[str], start: datetime, end: datetime
    ) -> list[tuple[datetime, float]]:
        """Wh counted by the energy registers per 15-minute bucket start, summed over the stations."""
        ...

    async def alarms(self, *, station_ids: list[str], start: datetime, end: datetime) -> list[f.AlarmRow]:
        """Alarms raised in [start, end), and those raised before that were still standing or shelved at start."""
        ...


class ReportRepository(Protocol):
    async def add(self, *, report: Report) -> Report: ...

    async def get(self, *, report_id: int) -> Report | None: ...

    async def list(self, *, limit: int, offset: int) -> builtins.list[Report]: ...

    async def count(self) -> int: ...

    async def made_before(self, *, cutoff: datetime, limit: int) -> builtins.list[Report]: ...

    async def delete(self, *, report_id: int) -> None: ...

    async def claim_run(self, *, kind: str, period_start: datetime, scope: str, now: datetime, stale: datetime) -> bool:
        """Record that this process makes the run; False when it is made, or being made, elsewhere."""
        ...

    async def last_run(self, *, kind: str, scope: str) -> datetime | None:
        """The start of the newest period with a recorded run of this kind and scope."""
        ...

    async def finish_run(
        self, *, kind: str, period_start: datetime, scope: str, report_id: int | None, error: str | None, at: datetime
    ) -> None: ...


class ReportUnit(Protocol):
    reports: ReportRepository
    report_reads: ReportReads
    availability: AvailabilityRepository


Renderer = Callable[[f.ReportFigures], bytes]
Announcer = Callable[[Report, Sequence[str], str | None], Awaitable[int]]


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


class ReportService:
    def __init__(
        self,
        *,
        store: Store[ReportUnit],
        clock: Clock,
        file_store: FileStore,
        config: ReportConfig,
        renderers: dict[str, Renderer] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._files = file_store
        self.config = config
        self._renderers = renderers or {}
        self.announce: Announcer | None = None  # app.py sets it: e-mail to the subscribers when a report is made

    @property
    def zone(self) -> ZoneInfo:
        return self.config.schedule.zone

    def scope(self, text: str) -> Scope:
        return Scope.parse(text, self.config.station_groups)

    async def figures(self, *, period: Period, scope: Scope) -> f.ReportFigures:
        """Compute the report's figures (and the previous period's headline) without storing anything."""
        async with self._store.unit() as uow:
            covered = await uow.report_reads.scope_stations(scope=scope, groups=self.config.station_groups)
            if covered is None:
                raise NotFound(f"no site {scope.value}")
            current = await self._compute(uow, covered, period)
            before = period.previous(self.zone)
            previous = await self._compute(uow, covered, before, detail=False)
        current.previous = previous.headline
        current.summary = f.summary_lines(current)
        return current

    async def _compute(
        self, uow: ReportUnit, covered: ScopeStations, period: Period, *, detail: bool = True
    ) -> f.ReportFigures:
        ids, start, end = covered.station_ids, period.start, period.end
        reads = uow.report_reads
        sessions = await reads.sessions(station_ids=ids, start=start, end=end) if ids else []
        alarms = await reads.alarms(station_ids=ids, start=start, end=end) if ids else []
        stations = await _availability(uow.availability, ids, start, end)
        energy = await asyncio.to_thread(f.energy_figures, sessions)
        session_figures = f.session_figures(sessions)
        availability = f.availability_figures(stations, alarms, target=self.config.availability_target, start=start)
        alarm_figures = f.alarm_figures(alarms, start=start, end=end)
        if detail:
            buckets = await reads.energy_buckets(station_ids=ids, start=start, end=end) if ids else []
            if buckets:
                energy.heat_map = f.heat_map_from_buckets(buckets, self.zone)
            else:
                energy.heat_map = f.heat_map_from_sessions(sessions, self.zone, end)
                energy.heat_map_source = "sessions"
        return f.ReportFigures(
            title=f"KPI report {period.label(self.zone)} — {covered.label}",
            scope=covered.label,
            period_label=period.label(self.zone),
            start=start,
            end=end,
            zone=self.zone.key,
            energy=energy,
            sessions=session_figures,
            availability=availability,
            alarms=alarm_figures,
            depots=f.depot_figures(sessions),
            session_rows=sessions,
            headline=f.headline(energy, session_figures, availability.fleet, alarm_figures.raised),
        )

    async def make(self, *, period: Period, scope: Scope, trigger: Trigger, requested_by: str) -> Report:
        """Compute, render and store one report."""
        figures = await self.figures(period=period, scope=scope)
        made_at = self._clock.now()
        stamp = f"{made_at:%Y%m%dT%H%M%S%f}"
        keys: dict[str, str] = {}
        sizes: dict[str, int] = {}
        try:
            for fmt, render in self._renderers.items():
                data = await asyncio.to_thread(render, figures)
                key = f"{KEY_PREFIX}{period.kind}-{period.start:%Y%m%d}-{stamp}.{fmt}"
                stored = await self._files.put(key, _one_chunk(data), max_bytes=MAX_REPORT_BYTES)
                keys[fmt], sizes[fmt] = key, stored.size
            report = Report(
                id=0,
                kind=period.kind,
                scope=str(scope),
                period_start=period.start,
                period_end=period.end,
                time_zone=self.zone.key,
                trigger=trigger,
                requested_by=requested_by,
                made_at=made_at,
                title=figures.title,
                summary=figures.as_json(),
                xlsx_key=keys.get("xlsx", ""),
                pdf_key=keys.get("pdf", ""),
                xlsx_bytes=sizes.get("xlsx", 0),
                pdf_bytes=sizes.get("pdf", 0),
            )
            async with self._store.unit() as uow:
                return await uow.reports.add(report=report)
        except BaseException:
            for key in keys.values():
                await asyncio.shield(self._files.delete(key))
            raise

    def link(self, report: Report) -> str | None:
        """The console's page of the report, for e-mails; None when console_url is not set."""
        return f"{self.config.console_url}/reports/{report.id}" if self.config.console_url else None

    async def get(self, *, report_id: int) -> Report:
        async with self._store.unit() as uow:
            report = await uow.reports.get(report_id=report_id)
        if report is None:
            raise NotFound(f"no report {report_id}")
        return report

    async def list(self, *, limit: int = 50, offset: int = 0) -> tuple[builtins.list[Report], int]:
        async with self._store.unit() as uow:
            return await uow.reports.list(limit=limit, offset=offset), await uow.reports.count()

    async def content(self, *, report_id: int, fmt: str) -> tuple[Report, AsyncIterator[bytes]]:
        if fmt not in FORMATS:
            raise InvalidArgument(f"no report format {fmt!r}; use one of {', '.join(FORMATS)}")
        report = await self.get(report_id=report_id)
        key = report.xlsx_key if fmt == "xlsx" else report.pdf_key
        if not key:
            raise NotFound(f"report {report_id} has no {fmt} file")
        return report, self._files.open(key)

    async def run_due(self) -> builtins.list[Report]:
        """Make every scheduled report that is due and not made yet, once each whatever else runs: the periods after
        the last one recorded, up to CATCH_UP of them (a CSMS down for weeks makes the weeks it missed). The very
        first check records the newest due period as the baseline instead of reporting on the time before the
        schedule existed."""
        now = self._clock.now()
        made: builtins.list[Report] = []
        for kind in self.config.schedule.kinds:
            due = self.config.schedule.due_of(kind, now, CATCH_UP)
            for text in self.config.scopes:
                scope = self.scope(text)
                async with self._store.unit() as uow:
                    last = await uow.reports.last_run(kind=kind, scope=str(scope))
                    if last is None and due:
                        if await uow.reports.claim_run(
                            kind=kind, period_start=due[-1].start, scope=str(scope), now=now, stale=now
                        ):
                            await uow.reports.finish_run(
                                kind=kind,
                                period_start=due[-1].start,
                                scope=str(scope),
                                report_id=None,
                                error=BASELINE,
                                at=now,
                            )
                        continue
                for period in due:
                    if last is not None and period.start <= last:
                        continue
                    report = await self._run(period, scope, now)
                    if report is not None:
                        made.append(report)
        return made

    async def _run(self, period: Period, scope: Scope, now: datetime) -> Report | None:
        """Claim the run, make the report, record the outcome and e-mail the subscribers."""
        async with self._store.unit() as uow:
            claimed = await uow.reports.claim_run(
                kind=period.kind, period_start=period.start, scope=str(scope), now=now, stale=now - STALE_CLAIM
            )
        if not claimed:
            return None
        report: Report | None = None
        error: str | None = None
        try:
            report = await self.make(period=period, scope=scope, trigger=Trigger.SCHEDULE, requested_by="schedule")
        except Exception as exc:  # recorded on the run; the next period still runs
            log.exception("the %s report for %s (%s) failed", period.kind, period.start, scope)
            error = f"{type(exc).__name__}: {exc}"[:500]
        async with self._store.unit() as uow:
            await uow.reports.finish_run(
                kind=period.kind,
                period_start=period.start,
                scope=str(scope),
                report_id=report.id if report else None,
                error=error,
                at=self._clock.now(),
            )
        if report is not None and self.announce is not None and self.config.subscribers:
            try:
                await self.announce(report, self.config.subscribers, self.link(report))
            except Exception:
                log.exception("report %d was made but its e-mail could not be queued", report.id)
        return report

    async def sweep(self, *, batch: int = 100) -> int:
        """Delete reports made before the retention period, with their files."""
        if self.config.retention is None:
            return 0
        cutoff = self._clock.now() - self.config.retention
        removed = 0
        while True:
            async with self._store.unit() as uow:
                old = await uow.reports.made_before(cutoff=cutoff, limit=batch)
            if not old:
                return removed
            for report in old:
                for key in (report.xlsx_key, report.pdf_key):
                    if key:
                        await self._files.delete(key)
                async with self._store.unit() as uow:
                    await uow.reports.delete(report_id=report.id)
                removed += 1

    async def keep_scheduled(self, interval: float) -> None:
        """The loop app.py runs: due reports (a missed one first thing at start-up), then retention, every interval."""
        while True:
            try:
                await self.run_due()
                await self.sweep()
            except Exception:
                log.exception("KPI report schedule failed; retrying in %.0f s", interval)
            await asyncio.sleep(interval)


async def _availability(
    repo: AvailabilityRepository, ids: Sequence[str], start: datetime, end: datetime
) -> list[StationAvailability]:
    """core/historian/availability.py's figures for many stations, read in two queries."""
    if not ids:
        return []
    station_ids = [StationId(i) for i in ids]
    connectivity = await repo.connectivity(station_ids=station_ids, start=start, end=end)
    statuses = await repo.status_changes(station_ids=station_ids, start=start, end=end)
    by_c: dict[str, list[ConnectivityChange]] = {}
    for c in connectivity:
        by_c.setdefault(c.station_id, []).append(c)
    by_s: dict[str, list[StatusChange]] = {}
    for s in statuses:
        by_s.setdefault(s.station_id, []).append(s)

    def compute() -> list[StationAvailability]:
        return [station_availability(sid, by_c.get(sid, []), by_s.get(sid, []), start, end) for sid in station_ids]

    return await asyncio.to_thread(compute)
