"""Trends: meter samples of a session or a station over time, as chart-ready series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from evscada.api.deps import CoreDep
from evscada.console.web import PageUser, page_of, render
from evscada.core.historian.monitoring import CURRENT, ENERGY, POWER, SOC, VOLTAGE
from evscada.core.historian.samples import Resolution, SampleAnswer, Series
from evscada.core.model import StationId, TransactionPk
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

MEASURANDS = (POWER, ENERGY, CURRENT, VOLTAGE, SOC)
MAX_RANGE = timedelta(days=31)


async def fetch_samples(
    core: Core,
    *,
    transaction: TransactionPk | None,
    station: StationId | None,
    since: datetime,
    until: datetime,
    measurands: Sequence[str],
) -> SampleAnswer:
    """The historian's answer, as for the REST API's meter-samples: raw for short ranges, buckets for long ones."""
    if transaction is not None:
        return await core.historian.transaction_samples(
            pk=transaction, start=None, end=None, measurands=list(measurands), phases=[], resolution=Resolution.AUTO
        )
    assert station is not None
    return await core.historian.station_samples(
        station_id=station,
        start=since,
        end=until,
        measurands=list(measurands),
        phases=[],
        evse_id=None,
        connector_id=None,
        resolution=Resolution.AUTO,
    )


def _points(series: Series, bucket_seconds: int | None) -> dict[float, tuple[float, float | None, float | None]]:
    """Time -> (value, min, max); a bucket is drawn at its middle with its average."""
    if not series.buckets:
        return {at.timestamp(): (value, None, None) for at, value in series.raw}
    half = (bucket_seconds or 0) / 2
    return {b.start.timestamp() + half: (b.avg, b.min, b.max) for b in series.buckets}


def chart_groups(answer: SampleAnswer) -> list[dict[str, Any]]:
    """One chart per measurand; one line per phase (and EVSE), aligned on a shared time axis for uPlot."""
    # A downsampled answer carries each bucket's min and max beside its average: a band around the line.
    several = len({s.key.evse_id for s in answer.series}) > 1
    groups: dict[str, dict[str, dict[float, tuple[float, float | None, float | None]]]] = {}
    units: dict[str, str | None] = {}
    for series in answer.series:
        key = series.key
        label = ((f"EVSE {key.evse_id} " if several else "") + key.phase).strip() or key.measurand.split(".")[0]
        groups.setdefault(key.measurand, {}).setdefault(label, {}).update(_points(series, answer.bucket_seconds))
        units.setdefault(key.measurand, series.unit)
    result = []
    for measurand in sorted(groups, key=lambda m: MEASURANDS.index(m) if m in MEASURANDS else 99):
        lines = groups[measurand]
        x = sorted({t for values in lines.values() for t in values})
        charts = []
        for label, values in lines.items():
            line: dict[str, Any] = {"label": label, "values": [_at(values, t, 0) for t in x]}
            if answer.bucket_seconds is not None:
                line["min"] = [_at(values, t, 1) for t in x]
                line["max"] = [_at(values, t, 2) for t in x]
            charts.append(line)
        result.append(
            {
                "measurand": measurand,
                "unit": units[measurand] or "",
                "resolution": answer.resolution,
                "x": x,
                "series": charts,
            }
        )
    return result


def _at(values: dict[float, tuple[float, float | None, float | None]], t: float, i: int) -> float | None:
    point = values.get(t)
    return point[i] if point is not None else None


def _range(since: datetime | None, until: datetime | None, hours: float) -> tuple[datetime, datetime]:
    end = until or datetime.now(UTC)
    start = since or end - timedelta(hours=hours)
    if start.tzinfo is None or end.tzinfo is None:
        start, end = start.replace(tzinfo=start.tzinfo or UTC), end.replace(tzinfo=end.tzinfo or UTC)
    if start >= end:
        raise HTTPException(422, "the range's start must be before its end")
    if end - start > MAX_RANGE:
        raise HTTPException(422, f"at most {MAX_RANGE.days} days at once")
    return start, end


@router.get("/data/trend")
async def trend_data(
    *,
    core: CoreDep,
    user: PageUser,
    transaction: int | None = None,
    station: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    hours: Annotated[float, Query(gt=0, le=744)] = 6,
    m: Annotated[list[str] | None, Query(description="measurands")] = None,
) -> JSONResponse:
    if transaction is None and not station:
        raise HTTPException(422, "give a transaction or a station")
    start, end = _range(since, until, hours)
    answer = await fetch_samples(
        core,
        transaction=TransactionPk(transaction) if transaction is not None else None,
        station=StationId(station) if station else None,
        since=start,
        until=end,
        measurands=m or MEASURANDS,
    )
    body = {
        "since": start.isoformat(),
        "until": end.isoformat(),
        "resolution": answer.resolution,
        "groups": chart_groups(answer),
    }
    return JSONResponse(body)


@router.get("/trends", response_class=HTMLResponse)
async def trends_page(
    *,
    request: Request,
    core: CoreDep,
    user: PageUser,
    tx: Annotated[list[int] | None, Query()] = None,
    station: str = "",
    since: str = "",
    until: str = "",
    hours: Annotated[float, Query(gt=0, le=744)] = 6,
    m: Annotated[list[str] | None, Query()] = None,
) -> HTMLResponse:
    chosen = m or list(MEASURANDS)
    measurand_query = "".join(f"&m={x}" for x in chosen)
    charts = []
    for pk in (tx or [])[:2]:  # two sessions side by side
        with page_of(user):
            transaction, _ = await core.queries.transaction(pk=TransactionPk(pk))
        charts.append(
            {
                "title": f"session {transaction.station_transaction_id} on {transaction.station_id}",
                "url": f"/data/trend?transaction={pk}{measurand_query}",
            }
        )
    if station and not charts:
        window = ""
        if since:
            window += f"&since={since}"
        if until:
            window += f"&until={until}"
        charts.append(
            {
                "title": f"station {station}",
                "url": f"/data/trend?station={station}&hours={hours}{window}{measurand_query}",
            }
        )
    return render(
        request,
        "trends.html",
        user,
        charts=charts,
        stations=[v.station.id for v in await core.queries.stations()],
        station=station,
        tx=tx or [],
        since=since,
        until=until,
        hours=hours,
        measurands=MEASURANDS,
        chosen=chosen,
    )
