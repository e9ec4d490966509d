"""Trends: meter samples of a session or a station over time, as chart-ready series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import QueryParams

from evscada.api.deps import CoreDep
from evscada.console.web import PageUser, render
from evscada.core.errors import InvalidArgument, NotFound
from evscada.core.historian.monitoring import CURRENT, ENERGY, POWER, SOC, VOLTAGE
from evscada.core.historian.samples import Resolution, SampleAnswer, Series
from evscada.core.model import StationId, TransactionPk
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

MEASURANDS = (POWER, ENERGY, CURRENT, VOLTAGE, SOC)
# What operators read instead of OCPP's measurand names, and the unit OCPP implies when a station sends none.
NAMES = {POWER: "Power", ENERGY: "Energy (meter)", CURRENT: "Current", VOLTAGE: "Voltage", SOC: "State of charge"}
DEFAULT_UNITS = {POWER: "W", ENERGY: "Wh", CURRENT: "A", VOLTAGE: "V", SOC: "Percent"}
# A unit as stored -> the unit shown and the factor to it: kW and kWh read better than 22000 W or 2.5M Wh.
SHOWN_UNITS = {"W": ("kW", 0.001), "Wh": ("kWh", 0.001), "varh": ("kvarh", 0.001), "var": ("kvar", 0.001)}
SHOWN_UNITS |= {"Percent": ("%", 1.0), "Celsius": ("°C", 1.0), "Fahrenheit": ("°F", 1.0), "K": ("K", 1.0)}


def shown_unit(measurand: str, unit: str | None) -> tuple[str, float]:
    """The unit a chart shows for this series, and the factor from the stored values to it."""
    stored = unit or DEFAULT_UNITS.get(measurand, "")
    return SHOWN_UNITS.get(stored, (stored, 1.0))


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
        unit, scale = shown_unit(measurand, units[measurand])
        result.append(
            {
                "measurand": measurand,
                "name": NAMES.get(measurand, measurand),
                "unit": units[measurand] or "",
                "shown_unit": unit,  # the chart multiplies by scale: kW from W, kWh from Wh
                "scale": scale,
                "resolution": answer.resolution,
                "x": x,
                "series": charts,
            }
        )
    return result


def _at(values: dict[float, tuple[float, float | None, float | None]], t: float, i: int) -> float | None:
    point = values.get(t)
    return point[i] if point is not None else None


DEFAULT_HOURS = 6.0
MAX_HOURS = MAX_RANGE.total_seconds() / 3600
MAX_SESSIONS = 2  # two sessions side by side


@dataclass(frozen=True, slots=True, kw_only=True)
class TrendQuery:
    """What the trends form (or a chart's data URL) asks for. The form sends every field, empty ones as `tx=`:
    an empty field is one not given, never an error."""

    transactions: tuple[TransactionPk, ...] = ()
    station: StationId | None = None
    since: datetime | None = None
    until: datetime | None = None
    hours: float = DEFAULT_HOURS
    measurands: tuple[str, ...] = MEASURANDS

    def window(self) -> tuple[datetime, datetime]:
        """The station's range: From/To if given, else the last hours (up to To, or now)."""
        end = self.until or datetime.now(UTC)
        start = self.since or end - timedelta(hours=self.hours)
        if start >= end:
            to = "To" if self.until else "now (To is empty)"
            raise InvalidArgument(
                f"From ({_shown(start)}) must be before {to}: move From earlier or To later", field="since"
            )
        if end - start > MAX_RANGE:
            raise InvalidArgument(
                f"at most {MAX_RANGE.days} days at once ({_shown(start)} to {_shown(end)} is longer): "
                "narrow From and To",
                field="since",
            )
        return start, end


def _shown(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _given(params: QueryParams, *names: str) -> list[str]:
    """The non-empty values of these fields, stripped."""
    return [v.strip() for name in names for v in params.getlist(name) if v.strip()]


def _moment(params: QueryParams, name: str, label: str) -> datetime | None:
    """A datetime-local field (no zone: UTC, as the console shows times) or an ISO time with a zone."""
    (text, *_) = _given(params, name) or [""]
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{label} '{text}' is not a date and time: use the picker, or write 2026-12-06T08:00", field=name
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_trend_query(params: QueryParams) -> TrendQuery:
    """Read the trend's fields leniently (empty = not given) and strictly (anything else wrong says what and why)."""
    pks = []
    for text in _given(params, "tx", "transaction"):
        if not text.isdigit() or int(text) < 1:
            raise InvalidArgument(
                f"session '{text}' is not a session id: give its number, as in the sessions list", field="tx"
            )
        pks.append(TransactionPk(int(text)))
    if len(pks) > MAX_SESSIONS:
        raise InvalidArgument(f"at most {MAX_SESSIONS} sessions at once: compare them two by two", field="tx")
    hours = DEFAULT_HOURS
    (hours_text, *_) = _given(params, "hours") or [""]
    if hours_text:
        try:
            hours = float(hours_text)
        except ValueError:
            hours = float("nan")
        if not 0 < hours <= MAX_HOURS:  # also refuses nan
            raise InvalidArgument(
                f"last hours '{hours_text}' must be a number above 0 and at most {MAX_HOURS:g} ({MAX_RANGE.days} days)",
                field="hours",
            )
    (station, *_) = _given(params, "station") or [""]
    return TrendQuery(
        transactions=tuple(pks),
        station=StationId(station) if station else None,
        since=_moment(params, "since", "From"),
        until=_moment(params, "until", "To"),
        hours=hours,
        measurands=tuple(dict.fromkeys(_given(params, "m"))) or MEASURANDS,
    )


@router.get("/data/trend")
async def trend_data(*, request: Request, core: CoreDep, user: PageUser) -> JSONResponse:
    """Chart series for one session or a station; a wrong field answers {"detail", "field"} the chart shows."""
    query = read_trend_query(request.query_params)
    if len(query.transactions) > 1:
        raise InvalidArgument("one session per chart: ask for each session on its own", field="transaction")
    if not query.transactions and query.station is None:
        raise InvalidArgument("choose a station or a session", field="station")
    start, end = query.window()
    answer = await fetch_samples(
        core,
        transaction=query.transactions[0] if query.transactions else None,
        station=query.station,
        since=start,
        until=end,
        measurands=query.measurands,
    )
    body = {
        "since": start.isoformat(),
        "until": end.isoformat(),
        "resolution": answer.resolution,
        "groups": chart_groups(answer),
    }
    return JSONResponse(body)


def _data_url(query: TrendQuery, **fields: object) -> str:
    params = [(k, str(v)) for k, v in fields.items() if v not in (None, "")]
    params += [("m", m) for m in query.measurands]
    return "/data/trend?" + urlencode(params)


async def _charts(core: Core, query: TrendQuery) -> list[dict[str, str]]:
    """The charts to draw: the sessions asked for, else the station over its range (checked here, not in the chart)."""
    charts = []
    for pk in query.transactions:
        try:
            transaction, _ = await core.queries.transaction(pk=pk)
        except NotFound:
            raise InvalidArgument(
                f"there is no session {pk}: check its number in the sessions list", field="tx"
            ) from None
        charts.append(
            {
                "title": f"session {transaction.station_transaction_id} on {transaction.station_id}",
                "url": _data_url(query, transaction=pk),
            }
        )
    if query.station is not None and not charts:
        query.window()  # a wrong range shows on the page, before any chart asks
        if query.station not in {v.station.id for v in await core.queries.stations()}:
            raise InvalidArgument(f"there is no station {query.station}", field="station")
        window = {"since": query.since, "until": query.until}
        charts.append(
            {
                "title": f"station {query.station}",
                "url": _data_url(
                    query,
                    station=query.station,
                    hours=f"{query.hours:g}",
                    **{k: v.isoformat() for k, v in window.items() if v is not None},
                ),
            }
        )
    return charts


@router.get("/trends", response_class=HTMLResponse)
async def trends_page(*, request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    """The form, and its charts; a wrong field shows its message above the form as typed (422), never raw JSON."""
    params = request.query_params
    typed = {name: (_given(params, name) or [""])[0] for name in ("station", "since", "until", "hours")}
    charts: list[dict[str, str]] = []
    error: InvalidArgument | None = None
    chosen = list(MEASURANDS)
    try:
        query = read_trend_query(params)
        chosen = list(query.measurands)
        charts = await _charts(core, query)
    except InvalidArgument as exc:
        error = exc
    return render(
        request,
        "trends.html",
        user,
        422 if error else 200,
        charts=charts,
        error=error,
        stations=[v.station.id for v in await core.queries.stations()],
        station=typed["station"],
        tx=_given(params, "tx", "transaction"),
        since=typed["since"],
        until=typed["until"],
        hours=typed["hours"] or f"{DEFAULT_HOURS:g}",
        measurands=MEASURANDS,
        names=NAMES,
        chosen=chosen,
    )
