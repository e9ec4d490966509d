"""Trends: meter samples of a session or a station over time, as chart-ready series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from evscada.api.deps import CoreDep
from evscada.console.web import PageUser, page_of, render
from evscada.core.model import MeterSample, StationId, TransactionPk
from evscada.core.monitoring import CURRENT, ENERGY, POWER, SOC, VOLTAGE
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

MEASURANDS = (POWER, ENERGY, CURRENT, VOLTAGE, SOC)
MAX_SAMPLES = 50_000
MAX_RANGE = timedelta(days=31)


async def fetch_samples(
    core: Core,
    *,
    transaction: TransactionPk | None,
    station: StationId | None,
    since: datetime,
    until: datetime,
    measurands: Sequence[str],
) -> list[tuple[str, MeterSample]]:
    """(series prefix, sample) pairs: the one place that reads samples for charts (the historian can take over)."""
    if transaction is not None:
        _, samples = await core.queries.transaction(pk=transaction)
        return [("", s) for s in samples if s.measurand in measurands]
    assert station is not None
    rows = await core.monitoring.station_samples(
        station_id=station, since=since, until=until, measurands=measurands, limit=MAX_SAMPLES
    )
    several = len({r.evse_id for r in rows}) > 1
    return [(f"EVSE {r.evse_id} " if several else "", r.sample) for r in rows]


def chart_groups(pairs: Sequence[tuple[str, MeterSample]]) -> list[dict[str, Any]]:
    """One chart per measurand; one line per phase (and EVSE), aligned on a shared time axis for uPlot."""
    groups: dict[str, dict[str, dict[float, float]]] = {}
    units: dict[str, str | None] = {}
    for prefix, s in pairs:
        if s.value is None:
            continue
        label = (prefix + (s.phase or "")).strip() or s.measurand.split(".")[0]
        if s.location == "EV" and s.measurand != SOC:
            label += " (EV)"
        groups.setdefault(s.measurand, {}).setdefault(label, {})[s.timestamp.timestamp()] = s.value
        units.setdefault(s.measurand, s.unit)
    result = []
    for measurand in sorted(groups, key=lambda m: MEASURANDS.index(m) if m in MEASURANDS else 99):
        lines = groups[measurand]
        x = sorted({t for values in lines.values() for t in values})
        result.append(
            {
                "measurand": measurand,
                "unit": units[measurand] or "",
                "x": x,
                "series": [{"label": label, "values": [values.get(t) for t in x]} for label, values in lines.items()],
            }
        )
    return result


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
    pairs = await fetch_samples(
        core,
        transaction=TransactionPk(transaction) if transaction is not None else None,
        station=StationId(station) if station else None,
        since=start,
        until=end,
        measurands=m or MEASURANDS,
    )
    return JSONResponse({"since": start.isoformat(), "until": end.isoformat(), "groups": chart_groups(pairs)})


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
