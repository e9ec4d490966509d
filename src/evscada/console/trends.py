"""Trends: meter samples of a session or a station over time, as chart-ready series."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import QueryParams

from evscada.api.deps import CoreDep
from evscada.console.web import PageUser, render
from evscada.core.errors import InvalidArgument, NotFound
from evscada.core.historian.monitoring import CURRENT, ENERGY, POWER, SOC, VOLTAGE
from evscada.core.historian.samples import Resolution, SampleAnswer, Series
from evscada.core.model import StationId, Transaction, TransactionPk
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


@dataclass(frozen=True, slots=True)
class Source:
    """One historian answer on the charts. A compared session is named in its lines' labels and shifted so that
    its start is 0: two sessions on different days then lie over each other."""

    answer: SampleAnswer
    name: str = ""
    origin: float = 0.0  # seconds subtracted from its times (the session's start); 0 keeps the time itself


@dataclass(slots=True)
class _Line:
    source: int
    unit: str | None
    points: dict[float, tuple[float, float | None, float | None]]


def chart_groups(answer: SampleAnswer) -> list[dict[str, Any]]:
    """One chart per measurand; one line per phase (and EVSE), aligned on a shared time axis for uPlot."""
    return overlay_groups([Source(answer)])


def overlay_groups(sources: Sequence[Source]) -> list[dict[str, Any]]:
    """One chart per measurand (and unit shown), a line per source and phase, on one x axis and one y scale.

    Each line carries the factor from its stored unit to the chart's (a session in W beside one in kW)."""
    # A downsampled answer carries each bucket's min and max beside its average: a band around the line.
    bucketed = any(s.answer.bucket_seconds is not None for s in sources)
    groups: dict[tuple[str, str], dict[str, _Line]] = {}
    for index, source in enumerate(sources):
        answer = source.answer
        several = len({s.key.evse_id for s in answer.series}) > 1
        for series in answer.series:
            key = series.key
            parts = [source.name, f"EVSE {key.evse_id}" if several else "", key.phase]
            label = " ".join(p for p in parts if p) or key.measurand.split(".")[0]
            shown, _ = shown_unit(key.measurand, series.unit)
            line = groups.setdefault((key.measurand, shown), {}).setdefault(label, _Line(index, series.unit, {}))
            points = _points(series, answer.bucket_seconds)
            line.points.update({t - source.origin: p for t, p in points.items()})
    result = []
    for measurand, shown in sorted(groups, key=lambda g: (MEASURANDS.index(g[0]) if g[0] in MEASURANDS else 99, g)):
        lines = groups[(measurand, shown)]
        x = sorted({t for line in lines.values() for t in line.points})
        charts = []
        for label, line in lines.items():
            _, scale = shown_unit(measurand, line.unit)
            drawn: dict[str, Any] = {
                "label": label,
                "source": line.source,
                "scale": scale,
                "values": [_at(line.points, t, 0) for t in x],
            }
            if bucketed:
                drawn["min"] = [_at(line.points, t, 1) for t in x]
                drawn["max"] = [_at(line.points, t, 2) for t in x]
            charts.append(drawn)
        first = next(iter(lines.values()))
        result.append(
            {
                "measurand": measurand,
                "name": NAMES.get(measurand, measurand),
                "unit": first.unit or "",
                "shown_unit": shown,  # the chart multiplies each line by its scale: kW from W, kWh from Wh
                "scale": charts[0]["scale"],
                "resolution": next(s.answer.resolution for s in sources if s.answer.series) if sources else "raw",
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


async def _sessions(core: Core, pks: Sequence[TransactionPk]) -> list[Transaction]:
    found = []
    for pk in pks:
        try:
            transaction, _ = await core.queries.transaction(pk=pk)
        except NotFound:
            raise InvalidArgument(
                f"there is no session {pk}: check its number in the sessions list", field="tx"
            ) from None
        found.append(transaction)
    return found


def _session_name(transaction: Transaction) -> str:
    return f"{transaction.station_id} session {transaction.station_transaction_id}"


async def trend_view(core: Core, query: TrendQuery) -> dict[str, Any]:
    """What a trend shows: a station over its range, one session over its time, or two sessions laid over each
    other on the time since their start (x in seconds, `x_axis` "since_start"), each session its own colour."""
    if not query.transactions and query.station is None:
        raise InvalidArgument("choose a station or a session", field="station")
    body: dict[str, Any] = {"x_axis": "time"}
    if query.transactions:
        sessions = await _sessions(core, query.transactions)
        now = datetime.now(UTC)  # a session's samples are its own: no range
        sources = []
        for transaction in sessions:
            answer = await fetch_samples(
                core, transaction=transaction.pk, station=None, since=now, until=now, measurands=query.measurands
            )
            if len(sessions) == 1:
                sources.append(Source(answer))
            else:
                origin = transaction.started_at.timestamp() if transaction.started_at else 0.0
                sources.append(Source(answer, name=_session_name(transaction), origin=origin))
        if len(sessions) == 1:
            body["title"] = f"session {sessions[0].station_transaction_id} on {sessions[0].station_id}"
        else:
            body["title"] = " and ".join(_session_name(t) for t in sessions) + ", time since their start"
            body["x_axis"] = "since_start"
            body["sessions"] = [_session_name(t) for t in sessions]
    else:
        assert query.station is not None
        start, end = query.window()
        body |= {"since": start.isoformat(), "until": end.isoformat()}
        sources = [
            Source(
                await fetch_samples(
                    core,
                    transaction=None,
                    station=query.station,
                    since=start,
                    until=end,
                    measurands=query.measurands,
                )
            )
        ]
        body["title"] = f"station {query.station}"
    body["resolution"] = next((s.answer.resolution for s in sources if s.answer.series), sources[0].answer.resolution)
    body["groups"] = overlay_groups(sources)
    return body


@router.get("/data/trend")
async def trend_data(*, request: Request, core: CoreDep, user: PageUser) -> JSONResponse:
    """Chart series for a station, a session or two compared; a wrong field answers {"detail", "field"}."""
    return JSONResponse(await trend_view(core, read_trend_query(request.query_params)))


CSV_DIGITS = 6  # a value as the chart holds it (scaled), rounded so that 2500.1000000000004 reads 2500.1


def since_start(seconds: float) -> str:
    """Seconds since a session's start as h:mm:ss, the CSV's time for compared sessions (before the start: -)."""
    whole = round(abs(seconds))
    sign = "-" if seconds < 0 and whole else ""
    return f"{sign}{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _cell(text: str) -> str:
    """A text cell a spreadsheet must not take for a formula (a station id is whatever the station sent)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def trend_csv(body: dict[str, Any]) -> str:
    """The series exactly as charted: one row per point of each line (min and max lines too when averaged),
    in the unit shown and the time on the x axis."""
    relative = body["x_axis"] == "since_start"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["since start (h:mm:ss)" if relative else "time (UTC)", "series", "measurand", "unit", "value"])
    for group in body["groups"]:
        for line in group["series"]:
            drawn = [(line["label"], line["values"])]
            if "max" in line:
                drawn += [(line["label"] + " max", line["max"]), (line["label"] + " min", line["min"])]
            for label, values in drawn:
                for x, value in zip(group["x"], values, strict=True):
                    if value is None:
                        continue
                    at = since_start(x) if relative else datetime.fromtimestamp(x, UTC).isoformat()
                    shown = repr(round(value * line["scale"], CSV_DIGITS)).removesuffix(".0")
                    writer.writerow([at, _cell(label), group["measurand"], group["shown_unit"], shown])
    return out.getvalue()


def _file_name(query: TrendQuery) -> str:
    what = "sessions-" + "-".join(str(pk) for pk in query.transactions) if query.transactions else f"{query.station}"
    return "trend-" + re.sub(r"[^A-Za-z0-9._-]+", "_", what) + ".csv"


@router.get("/data/trend.csv")
async def trend_csv_download(*, request: Request, core: CoreDep, user: PageUser) -> Response:
    """The page's trend as CSV, asked with the page's own query: what the charts show, as they show it."""
    query = read_trend_query(request.query_params)
    body = await trend_view(core, query)
    return Response(
        trend_csv(body),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_file_name(query)}"'},
    )


def _query_string(query: TrendQuery) -> str:
    """The trend's fields as its data and CSV URLs take them, empty ones left out."""
    params: list[tuple[str, str]] = [("tx", str(pk)) for pk in query.transactions]
    if not query.transactions and query.station is not None:
        params.append(("station", query.station))
        params.append(("hours", f"{query.hours:g}"))
        params += [(k, v.isoformat()) for k, v in (("since", query.since), ("until", query.until)) if v is not None]
    params += [("m", m) for m in query.measurands]
    return urlencode(params)


async def _chart(core: Core, query: TrendQuery) -> dict[str, str] | None:
    """The trend to draw, checked here so that a wrong field shows on the page before any chart asks."""
    if query.transactions:
        sessions = await _sessions(core, query.transactions)
        if len(sessions) == 1:
            title = f"session {sessions[0].station_transaction_id} on {sessions[0].station_id}"
        else:
            title = " compared with ".join(_session_name(t) for t in sessions)
    elif query.station is not None:
        query.window()
        if query.station not in {v.station.id for v in await core.queries.stations()}:
            raise InvalidArgument(f"there is no station {query.station}", field="station")
        title = f"station {query.station}"
    else:
        return None
    fields = _query_string(query)
    return {"title": title, "url": f"/data/trend?{fields}", "csv": f"/data/trend.csv?{fields}"}


@router.get("/trends", response_class=HTMLResponse)
async def trends_page(*, request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    """The form, and its charts; a wrong field shows its message above the form as typed (422), never raw JSON."""
    params = request.query_params
    typed = {name: (_given(params, name) or [""])[0] for name in ("station", "since", "until", "hours")}
    chart: dict[str, str] | None = None
    error: InvalidArgument | None = None
    chosen = list(MEASURANDS)
    try:
        query = read_trend_query(params)
        chosen = list(query.measurands)
        chart = await _chart(core, query)
    except InvalidArgument as exc:
        error = exc
    return render(
        request,
        "trends.html",
        user,
        422 if error else 200,
        charts=[chart] if chart else [],
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
