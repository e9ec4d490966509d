"""KPI reports in SQL: the reports made, the scheduled runs (claimed once by a unique key), and the report's reads,
which let the database sum and join so Python sees one row per session or alarm, never a raw meter sample."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.reports.figures import AlarmRow, SessionRow
from evscada.core.reports.periods import ReportKind
from evscada.core.reports.service import Report, Scope, ScopeStations, Trigger
from evscada.storage import tables as t

BUCKET = 900  # the historian's 15-minute resolution
ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"


class SqlReports:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, report: Report) -> Report:
        values = _report_values(report)
        result = await self._c.execute(t.kpi_reports.insert().values(**values).returning(t.kpi_reports.c.id))
        report.id = int(result.scalar_one())
        return report

    async def get(self, *, report_id: int) -> Report | None:
        row = (await self._c.execute(select(t.kpi_reports).where(t.kpi_reports.c.id == report_id))).first()
        return _report(row) if row is not None else None

    async def list(self, *, limit: int, offset: int) -> builtins.list[Report]:
        r = t.kpi_reports.c
        statement = select(t.kpi_reports).order_by(r.made_at.desc(), r.id.desc()).limit(limit).offset(offset)
        return [_report(row) for row in await self._c.execute(statement)]

    async def count(self) -> int:
        return int((await self._c.execute(select(func.count()).select_from(t.kpi_reports))).scalar_one())

    async def made_before(self, *, cutoff: datetime, limit: int) -> builtins.list[Report]:
        r = t.kpi_reports.c
        statement = select(t.kpi_reports).where(r.made_at < cutoff).order_by(r.made_at).limit(limit)
        return [_report(row) for row in await self._c.execute(statement)]

    async def delete(self, *, report_id: int) -> None:
        await self._c.execute(delete(t.kpi_reports).where(t.kpi_reports.c.id == report_id))

    async def claim_run(self, *, kind: str, period_start: datetime, scope: str, now: datetime, stale: datetime) -> bool:
        insert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        inserted = await self._c.execute(
            insert(t.report_runs)
            .values(kind=kind, period_start=period_start, scope=scope, claimed_at=now)
            .on_conflict_do_nothing(index_elements=["kind", "period_start", "scope"])
        )
        if inserted.rowcount == 1:
            return True
        runs = t.report_runs.c
        taken_over = await self._c.execute(
            update(t.report_runs)
            .where(
                runs.kind == kind,
                runs.period_start == period_start,
                runs.scope == scope,
                runs.finished_at.is_(None),
                runs.claimed_at < stale,
            )
            .values(claimed_at=now)
        )
        return taken_over.rowcount == 1

    async def last_run(self, *, kind: str, scope: str) -> datetime | None:
        runs = t.report_runs.c
        statement = select(func.max(runs.period_start)).where(runs.kind == kind, runs.scope == scope)
        value = (await self._c.execute(statement)).scalar_one()
        return _utc(value) if value is not None else None

    async def finish_run(
        self, *, kind: str, period_start: datetime, scope: str, report_id: int | None, error: str | None, at: datetime
    ) -> None:
        runs = t.report_runs.c
        await self._c.execute(
            update(t.report_runs)
            .where(runs.kind == kind, runs.period_start == period_start, runs.scope == scope)
            .values(finished_at=at, report_id=report_id, error=error)
        )


def _report_values(report: Report) -> dict[str, Any]:
    return {
        "kind": str(report.kind),
        "scope": report.scope,
        "period_start": report.period_start,
        "period_end": report.period_end,
        "time_zone": report.time_zone,
        "trigger": str(report.trigger),
        "requested_by": report.requested_by,
        "made_at": report.made_at,
        "title": report.title,
        "summary": report.summary,
        "xlsx_key": report.xlsx_key,
        "pdf_key": report.pdf_key,
        "xlsx_bytes": report.xlsx_bytes,
        "pdf_bytes": report.pdf_bytes,
    }


def _report(row: Any) -> Report:
    return Report(
        id=row.id,
        kind=ReportKind(row.kind),
        scope=row.scope,
        period_start=row.period_start,
        period_end=row.period_end,
        time_zone=row.time_zone,
        trigger=Trigger(row.trigger),
        requested_by=row.requested_by,
        made_at=row.made_at,
        title=row.title,
        summary=row.summary,
        xlsx_key=row.xlsx_key,
        pdf_key=row.pdf_key,
        xlsx_bytes=row.xlsx_bytes,
        pdf_bytes=row.pdf_bytes,
    )


class SqlReportReads:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def scope_stations(self, *, scope: Scope, groups: dict[str, list[str]]) -> ScopeStations | None:
        s = t.stations.c
        statement = select(s.id).order_by(s.id)
        label = "fleet"
        if scope.kind == "site":
            site = (await self._c.execute(select(t.sites.c.name).where(t.sites.c.id == int(scope.value)))).first()
            if site is None:
                return None
            statement = statement.where(s.site_id == int(scope.value))
            label = f"site {site.name}"
        elif scope.kind == "group":
            statement = statement.where(s.id.in_(groups.get(scope.value, [])))
            label = f"group {scope.value}"
        return ScopeStations([row.id for row in await self._c.execute(statement)], label)

    def _minus_bucket(self, at: Any) -> Any:
        """`at` one bucket earlier, comparable with a stored UtcDateTime on either backend."""
        if self._c.dialect.name == "postgresql":
            return at - literal_column(f"interval '{BUCKET} seconds'")
        return func.datetime(at, literal_column(f"'-{BUCKET} seconds'"))

    def _buckets_of(self, tx: Any, *, measurand: str, end: datetime) -> Any:
        """The 15-minute buckets of a measurand on the session's EVSE while it ran (correlated with the session)."""
        a = t.meter_aggregates.c
        return and_(
            a.station_id == tx.station_id,
            a.resolution == BUCKET,
            a.bucket_start > self._minus_bucket(tx.started_at),
            a.bucket_start < func.coalesce(tx.ended_at, end),
            a.evse_id == tx.evse_id,
            a.measurand == measurand,
            a.phase == "",
        )

    async def sessions(self, *, station_ids: list[str], start: datetime, end: datetime) -> list[SessionRow]:
        tx = t.transactions.c
        a = t.meter_aggregates.c
        v = t.vehicles.c
        in_watts = case((a.unit == "kW", a.max * 1000), else_=a.max)
        peak = select(func.max(in_watts)).where(self._buckets_of(tx, measurand=POWER, end=end)).scalar_subquery()
        last_soc = (
            select(a.last_value)
            .where(self._buckets_of(tx, measurand=SOC, end=end))
            .order_by(a.bucket_start.desc())
            .limit(1)
            .scalar_subquery()
        )
        statement = (
            select(
                tx.pk,
                tx.station_id,
                tx.evse_id,
                tx.connector_id,
                tx.started_at,
                tx.ended_at,
                tx.meter_start,
                tx.meter_stop,
                tx.auth_status,
                tx.stop_reason,
                v.name.label("vehicle"),
                v.fleet,
                v.target_soc_pct,
                t.sites.c.name.label("site"),
                peak.label("peak"),
                case((v.target_soc_pct.is_not(None), last_soc), else_=None).label("last_soc"),
            )
            .select_from(
                t.transactions.outerjoin(t.vehicles, v.id == tx.vehicle_id)
                .outerjoin(t.stations, t.stations.c.id == tx.station_id)
                .outerjoin(t.sites, t.sites.c.id == t.stations.c.site_id)
            )
            .where(tx.station_id.in_(station_ids), tx.started_at >= start, tx.started_at < end)
            .order_by(tx.started_at, tx.pk)
        )
        rows = []
        for r in await self._c.execute(statement):
            energy = (
                max(0.0, round(r.meter_stop - r.meter_start, 3))
                if r.meter_start is not None and r.meter_stop is not None
                else None
            )
            rows.append(
                SessionRow(
                    pk=r.pk,
                    station_id=r.station_id,
                    evse_id=r.evse_id,
                    connector_id=r.connector_id,
                    started_at=r.started_at,
                    ended_at=r.ended_at,
                    energy_wh=energy,
                    auth_status=r.auth_status,
                    stop_reason=r.stop_reason,
                    vehicle=r.vehicle,
                    fleet=r.fleet,
                    site=r.site,
                    peak_power_w=float(r.peak) if r.peak is not None else None,
                    last_soc_pct=float(r.last_soc) if r.last_soc is not None else None,
                    target_soc_pct=r.target_soc_pct,
                )
            )
        return rows

    async def energy_buckets(
        self, *, station_ids: list[str], start: datetime, end: datetime
    ) -> list[tuple[datetime, float]]:
        a = t.meter_aggregates.c
        in_wh = case((a.unit == "kWh", 1000.0), else_=1.0)
        previous = func.lag(a.last_value).over(
            partition_by=(a.station_id, a.evse_id, a.connector_id), order_by=a.bucket_start
        )
        deltas = (
            select(
                a.bucket_start.label("bucket_start"),
                ((a.last_value - func.coalesce(previous, a.first_value)) * in_wh).label("wh"),
            )
            .where(
                a.resolution == BUCKET,
                a.measurand == ENERGY_REGISTER,
                a.phase == "",
                a.station_id.in_(station_ids),
                a.bucket_start >= start,
                a.bucket_start < end,
            )
            .subquery()
        )
        statement = (
            select(deltas.c.bucket_start, func.sum(deltas.c.wh))
            .where(deltas.c.wh > 0)
            .group_by(deltas.c.bucket_start)
            .order_by(deltas.c.bucket_start)
        )
        return [(_utc(r[0]), float(r[1])) for r in await self._c.execute(statement)]

    async def alarms(self, *, station_ids: list[str], start: datetime, end: datetime) -> list[AlarmRow]:
        al = t.alarms.c
        still_open: ColumnElement[bool] = or_(
            al.raised_at >= start,
            al.cleared_at.is_(None),
            al.cleared_at >= start,
            al.acknowledged_at.is_(None),
            al.acknowledged_at >= start,
            al.shelved_until >= start,
        )
        statement = (
            select(
                al.id,
                al.station_id,
                al.source,
                al.priority,
                al.raised_at,
                al.cleared_at,
                al.acknowledged_at,
                al.shelved_until,
            )
            .where(al.station_id.in_(station_ids), al.raised_at < end, still_open)
            .order_by(al.raised_at, al.id)
        )
        return [
            AlarmRow(
                r.id, r.station_id, r.source, r.priority, r.raised_at, r.cleared_at, r.acknowledged_at, r.shelved_until
            )
            for r in await self._c.execute(statement)
        ]


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    raise TypeError(f"unexpected bucket start {value!r}")
