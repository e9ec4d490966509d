"""SQL behind the historian: meter-sample range reads, and the histories availability is computed from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.historian.availability import ConnectivityChange, StatusChange
from evscada.core.historian.samples import Bucket, RawRow, SampleScope, SeriesKey, SummaryRow
from evscada.core.model import SiteId, StationId
from evscada.storage import tables as t

WATERMARK = "meter_readings"  # historian_watermarks.name of the aggregator's position: the last reading folded
_LARGEST = 1.7976931348623157e308  # the largest finite float


def finite(value: Any) -> Any:
    """A sample's value is a number: BETWEEN -max AND max leaves out NULL, NaN and the infinities, so raw answers,
    the raw tail and the stored buckets agree. Readings store no such value (a 1.6 "NaN" or "1e400" keeps its text
    in raw instead); the check also guards rows written into meter_readings by other means."""
    return value.between(-_LARGEST, _LARGEST)


def _filtered(statement: Select[Any], columns: Any, measurands: list[str], phases: list[str]) -> Select[Any]:
    if measurands:
        statement = statement.where(columns.measurand.in_(measurands))
    if phases:
        statement = statement.where(columns.phase.in_(phases))
    return statement


def _scoped(statement: Select[Any], columns: Any, scope: SampleScope) -> Select[Any]:
    statement = statement.where(columns.station_id == scope.station_id)
    if scope.evse_id is not None:
        statement = statement.where(columns.evse_id == scope.evse_id)
    if scope.connector_id is not None:
        statement = statement.where(columns.connector_id == scope.connector_id)
    return statement


class SqlHistorian:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def raw(
        self,
        *,
        scope: SampleScope,
        start: datetime,
        end: datetime,
        measurands: list[str],
        phases: list[str],
        limit: int,
    ) -> list[RawRow]:
        c = t.meter_samples.c
        statement = select(c.evse_id, c.connector_id, c.measurand, c.phase, c.unit, c.timestamp, c.value).where(
            c.timestamp >= start, c.timestamp < end, finite(c.value)
        )
        if scope.transaction_pk is not None:  # its own samples, by ix_meter_readings_transaction
            statement = statement.where(c.transaction_pk == scope.transaction_pk)
        else:
            statement = _scoped(statement, c, scope)
        statement = _filtered(statement, c, measurands, phases).order_by(c.timestamp, c.id).limit(limit)
        return [
            RawRow(SeriesKey(r.evse_id, r.connector_id, r.measurand, r.phase or ""), r.unit, r.timestamp, r.value)
            for r in await self._c.execute(statement)
        ]

    async def summaries(
        self,
        *,
        scope: SampleScope,
        resolution: int,
        start: datetime,
        end: datetime,
        measurands: list[str],
        phases: list[str],
    ) -> list[SummaryRow]:
        # One statement, so one snapshot on every backend: the stored buckets plus the samples above the
        # aggregator's watermark. Two statements could see the aggregator commit in between and count twice.
        a = t.meter_aggregates.c
        stored = select(
            a.bucket_start.label("start"),
            a.evse_id,
            a.connector_id,
            a.measurand,
            a.phase,
            a.unit,
            a["count"],
            a["sum"],
            a["min"],
            a["max"],
            a.first_at,
            a.first_value,
            a.last_at,
            a.last_value,
        ).where(a.resolution == resolution, a.bucket_start >= start, a.bucket_start < end)
        stored = _filtered(_scoped(stored, a, scope), a, measurands, phases)
        c = t.meter_samples.c
        w = t.historian_watermarks.c
        watermark = select(w.last_id).where(w.name == WATERMARK).scalar_subquery()
        tail = select(
            c.timestamp,
            c.evse_id,
            c.connector_id,
            c.measurand,
            func.coalesce(c.phase, ""),
            c.unit,
            literal(1),
            c.value,
            c.value,
            c.value,
            c.timestamp,
            c.value,
            c.timestamp,
            c.value,
        ).where(
            c.timestamp >= start,
            c.timestamp < end,
            finite(c.value),
            c.reading_id > func.coalesce(watermark, 0),
        )
        tail = _filtered(_scoped(tail, c, scope), c, measurands, phases)
        rows = await self._c.execute(union_all(stored, tail))
        return [
            SummaryRow(
                SeriesKey(r[1], r[2], r[3], r[4] or ""),
                r[5],
                Bucket(r[0], int(r[6]), float(r[7]), r[8], r[9], r[10], r[11], r[12], r[13]),
            )
            for r in rows
        ]


class SqlAvailability:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def connectivity(
        self, *, station_ids: list[StationId], start: datetime, end: datetime
    ) -> list[ConnectivityChange]:
        c = t.station_connectivity.c
        before = (
            select(c.station_id, func.max(c.at).label("at"))
            .where(c.station_id.in_(station_ids), c.at < start)
            .group_by(c.station_id)
            .subquery()
        )
        last_before = select(c.id, c.station_id, c.online, c.at).join(
            before, (before.c.station_id == c.station_id) & (before.c.at == c.at)
        )
        within = select(c.id, c.station_id, c.online, c.at).where(
            c.station_id.in_(station_ids), c.at >= start, c.at < end
        )
        rows = sorted(await self._c.execute(union_all(last_before, within)), key=lambda r: (r.at, r.id))
        return [ConnectivityChange(StationId(r.station_id), r.online, r.at) for r in rows]

    async def status_changes(
        self, *, station_ids: list[StationId], start: datetime, end: datetime
    ) -> list[StatusChange]:
        s = t.status_history.c
        keys = (s.station_id, s.evse_id, s.connector_id)
        before = (
            select(*keys, func.max(s.timestamp).label("at"))
            .where(s.station_id.in_(station_ids), s.timestamp < start)
            .group_by(*keys)
            .subquery()
        )
        columns = (s.id, s.station_id, s.evse_id, s.connector_id, s.status, s.timestamp)
        last_before = select(*columns).join(
            before,
            (before.c.station_id == s.station_id)
            & (before.c.evse_id == s.evse_id)
            & (before.c.connector_id == s.connector_id)
            & (before.c.at == s.timestamp),
        )
        within = select(*columns).where(s.station_id.in_(station_ids), s.timestamp >= start, s.timestamp < end)
        rows = sorted(await self._c.execute(union_all(last_before, within)), key=lambda r: (r.timestamp, r.id))
        return [StatusChange(StationId(r.station_id), r.evse_id, r.connector_id, r.status, r.timestamp) for r in rows]

    async def station_ids(self, *, site_id: SiteId | None) -> list[StationId]:
        statement = select(t.stations.c.id).order_by(t.stations.c.id)
        if site_id is not None:
            statement = statement.where(t.stations.c.site_id == site_id)
        return [StationId(row.id) for row in await self._c.execute(statement)]
