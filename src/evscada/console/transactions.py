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
)


@dataclass(frozen=True, slots=True)
class Listing:
    rows: list[Transaction]
    vehicles: dict[int, Vehicle]
    values: dict[str, str]  # the filter as the user typed it


def _when(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def listing(core: Core, request: Request, limit: int) -> Listing:
    values = {k: request.query_params.get(k, "").strip() for k in FILTERS}
    station_ids: tuple[StationId, ...] | None = None
    if values["site"].isdigit():
        site_id = int(values["site"])
        station_ids = tuple(v.station.id for v in await core.queries.stations() if v.station.site_id == site_id)
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
    return Listing(rows=await core.queries.transactions(where=where), vehicles=vehicles, values=values)


def _record(tx: Transaction, vehicles: dict[int, Vehicle]) -> dict[str, Any]:
    vehicle = vehicles.get(tx.vehicle_id) if tx.vehicle_id is not None else None
    return {
        "id": tx.pk,
        "station_id": tx.station_id,
        "transaction_id": tx.station_transaction_id,
        "evse_id": tx.evse.evse_id,
        "id_token": tx.id_token or "",
        "vehicle": vehicle.name if vehicle else "",
        "started_at": fmt_time(tx.started_at),
        "ended_at": fmt_time(tx.ended_at),
        "energy_kwh": round(tx.energy_wh / 1000, 3) if tx.energy_wh is not None else None,
        "state": str(tx.state),
        "stop_reason": tx.stop_reason or "",
    }


@router.get("/transactions", response_class=HTMLResponse)
async def transactions_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    found = await listing(core, request, SHOWN)
    query = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k in FILTERS and v)
    return render(
        request,
        "transactions.html",
        user,
        rows=[_record(tx, found.vehicles) for tx in found.rows],
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
    writer.writerows(_record(tx, found.vehicles) for tx in found.rows)
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
        record = _record(tx, found.vehicles)
        sheet.append([record[c] for c in COLUMNS])
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
