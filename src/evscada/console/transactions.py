"""Transactions: filtered history, details with their trend, and the filtered list as CSV or XLSX."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from evscada.api.deps import CoreDep
from evscada.console.web import PageUser, fmt_time, page_of, render
from evscada.core.charging.queries import TransactionFilter
from evscada.core.model import StationId, Transaction, TransactionPk, TransactionState, Vehicle
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

SHOWN = 200  # rows on the page; the export takes the same filter with a higher limit
EXPORTED = 10_000
FILTERS = ("site", "station", "token", "vehicle", "state", "since", "until")
COLUMNS = (
    "id",
    "station_id",
    "transaction_id",
    "evse_id",
    "id_token",
    "vehicle",
    "started_at",
    "ended_at",
    "energy_kwh",
    "state",
    "stop_reason",
    "duration_s",  # ended minus started, whole seconds; empty while the session runs
    "site",  # the station's site now, by name
)
TIME_COLUMNS = ("started_at", "ended_at")
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"  # UTC, as the console shows times


@dataclass(frozen=True, slots=True)
class Listing:
    rows: list[Transaction]
    vehicles: dict[int, Vehicle]
    sites: dict[StationId, str]  # each station's site name (stations without a site are left out)
    values: dict[str, str]  # the filter as the user typed it


def _when(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def listing(core: Core, request: Request, limit: int) -> Listing:
    values = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    stations = [v.station for v in await core.queries.stations()]
    names = {s.id: s.name for s in await core.sites.list()}
    sites = {s.id: names[s.site_id] for s in stations if s.site_id is not None and s.site_id in names}
    station_ids: tuple[StationId, ...] | None = None
    if values["site"].isdigit():
        site_id = int(values["site"])
        station_ids = tuple(s.id for s in stations if s.site_id == site_id)
    where = TransactionFilter(
        station_id=StationId(values["station"]) if values["station"] else None,
        state=TransactionState(values["state"]) if values["state"] in ("running", "ended") else None,
        id_token=values["token"] or None,
        started_since=_when(values["since"]),
        started_until=_when(values["until"]),
        limit=limit,
        station_ids=station_ids,
        vehicle_id=int(values["vehicle"]) if values["vehicle"].isdigit() else None,
    )
    vehicles = {int(v.id): v for v in await core.vehicles.list()}
    rows = await core.queries.transactions(where=where)
    return Listing(rows=rows, vehicles=vehicles, sites=sites, values=values)


def energy_kwh(wh: float | None) -> float | None:
    """kWh to 1 Wh: a session never delivers less than nothing, and -0.0 (which prints as "-0.00") becomes 0.0."""
    return None if wh is None else max(0.0, round(wh / 1000, 3)) + 0.0


def _record(tx: Transaction, found: Listing) -> dict[str, Any]:
    """One session as typed values (datetimes, numbers, None): the XLSX keeps them, the CSV and page format them."""
    vehicle = found.vehicles.get(tx.vehicle_id) if tx.vehicle_id is not None else None
    duration = None
    if tx.started_at is not None and tx.ended_at is not None:
        duration = max(0, round((tx.ended_at - tx.started_at).total_seconds()))
    return {
        "id": tx.pk,
        "station_id": tx.station_id,
        "transaction_id": tx.station_transaction_id,
        "evse_id": tx.evse.evse_id,
        "id_token": tx.id_token or "",
        "vehicle": vehicle.name if vehicle else "",
        "started_at": tx.started_at,
        "ended_at": tx.ended_at,
        "energy_kwh": energy_kwh(tx.energy_wh),
        "state": str(tx.state),
        "stop_reason": tx.stop_reason or "",
        "duration_s": duration,
        "site": found.sites.get(tx.station_id, ""),
    }


def _as_text(record: dict[str, Any]) -> dict[str, Any]:
    """A record for the CSV and the page: times as the console writes them (UTC), nothing as an empty field."""
    return {k: fmt_time(v) if k in TIME_COLUMNS else ("" if v is None else v) for k, v in record.items()}


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    """A datetime as a real Excel date (UTC; Excel has no time zones) with a readable format, anything else as is."""
    from openpyxl.cell import WriteOnlyCell

    if not isinstance(value, datetime):
        return value
    cell = WriteOnlyCell(sheet, value=value.astimezone(UTC).replace(tzinfo=None))
    cell.number_format = XLSX_TIME_FORMAT
    return cell


@router.get("/transactions", response_class=HTMLResponse)
async def transactions_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    found = await listing(core, request, SHOWN)
    query = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k in FILTERS and v)
    return render(
        request,
        "transactions.html",
        user,
        rows=[_as_text(_record(tx, found)) for tx in found.rows],
        f=found.values,
        query=query,
        shown=SHOWN,
        sites=await core.sites.list(),
        vehicles=list(found.vehicles.values()),
        stations=[v.station.id for v in await core.queries.stations()],
    )


@router.get("/transactions/export.csv")
async def export_csv(request: Request, core: CoreDep, user: PageUser) -> Response:
    found = await listing(core, request, EXPORTED)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_as_text(_record(tx, found)) for tx in found.rows)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="transactions.csv"'},
    )


@router.get("/transactions/export.xlsx")
async def export_xlsx(request: Request, core: CoreDep, user: PageUser) -> Response:
    from openpyxl import Workbook

    found = await listing(core, request, EXPORTED)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("transactions")
    sheet.append(list(COLUMNS))
    for tx in found.rows:
        record = _record(tx, found)
        sheet.append([_xlsx_cell(sheet, record[c]) for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="transactions.xlsx"'},
    )


@router.get("/transactions/{pk}", response_class=HTMLResponse)
async def transaction_page(request: Request, pk: int, core: CoreDep, user: PageUser) -> HTMLResponse:
    with page_of(user):
        tx, samples = await core.queries.transaction(pk=TransactionPk(pk))
    vehicle = await core.vehicles.get(vehicle_id=tx.vehicle_id) if tx.vehicle_id is not None else None
    return render(request, "transaction.html", user, tx=tx, vehicle=vehicle, sample_count=len(samples))
