"""The transaction database, for operators and billing systems."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from evscada.api.deps import Context, CoreDep, Viewer
from evscada.api.params import Id, Offset, Time
from evscada.api.schemas import SampleOut, TransactionDetailOut, TransactionOut
from evscada.core.charging.queries import ExportCursor, TransactionFilter
from evscada.core.model import SiteId, StationId, Transaction, TransactionPk, TransactionState, VehicleId

router = APIRouter(tags=["transactions"])

EXPORT_COLUMNS = (
    "id",
    "station_id",
    "station_transaction_id",
    "evse_id",
    "connector_id",
    "id_token",
    "token_type",
    "started_at",
    "ended_at",
    "meter_start_wh",
    "meter_stop_wh",
    "energy_wh",
    "stop_reason",
    "state",
    "updated_at",
    "vehicle_id",  # columns are only ever added at the end: existing positions stay
    "vehicle_name",
)


async def _vehicle_names(core: CoreDep, transactions: list[Transaction]) -> dict[VehicleId, str]:
    return await core.vehicles.names(vehicle_ids={tx.vehicle_id for tx in transactions if tx.vehicle_id is not None})


def _export_row(tx: Transaction, names: dict[VehicleId, str]) -> dict[str, object]:
    row = TransactionOut.of(tx, names).model_dump(mode="json")
    row["updated_at"] = tx.updated_at.isoformat() if tx.updated_at else None
    return {column: row[column] for column in EXPORT_COLUMNS}


@router.get(
    "/transactions/export",
    responses={
        200: {
            "content": {"text/csv": {}, "application/x-ndjson": {}},
            "description": "rows oldest change first; the X-Next-Cursor header is the cursor for the next call",
        }
    },
)
async def export_transactions(
    *,
    context: Context,
    core: CoreDep,
    _: Viewer,
    format: Literal["csv", "jsonl"] = "jsonl",
    cursor: Annotated[
        str | None, Query(description="X-Next-Cursor of the previous call; absent: from the start")
    ] = None,
    updated_since: Annotated[
        Time | None,
        Query(description="the first call's start instead of a cursor: transactions changed at or after this time"),
    ] = None,
    state: TransactionState | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    """Incremental export for billing: every transaction changed since the cursor, each change once."""
    if cursor and updated_since is not None:
        raise HTTPException(
            422, "give either cursor or updated_since, not both: the cursor already says where to go on"
        )
    after = ExportCursor.decode(cursor) if cursor else None
    if updated_since is not None:  # just before that instant, after every id: the rows changed at or after it follow
        after = ExportCursor(updated_at=updated_since - timedelta(microseconds=1), pk=2**62)
    rows, next_cursor = await core.queries.export(
        after=after, settle_seconds=context.export_settle_seconds, state=state, limit=limit
    )
    headers = {"X-Has-More": "true" if len(rows) == limit else "false"}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor.encode()
    names = await _vehicle_names(core, rows)
    records = [_export_row(tx, names) for tx in rows]
    if format == "jsonl":
        body = "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records)
        return Response(body, media_type="application/x-ndjson", headers=headers)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return Response(out.getvalue(), media_type="text/csv", headers=headers)


@router.get("/transactions", response_model=list[TransactionOut])
async def list_transactions(
    *,
    core: CoreDep,
    _: Viewer,
    station_id: str | None = None,
    state: TransactionState | None = None,
    id_token: str | None = None,
    started_since: Annotated[Time | None, Query(description="ISO 8601 with offset, e.g. 2026-11-01T00:00:00Z")] = None,
    started_until: Time | None = None,
    site_id: Annotated[Id | None, Query(description="sessions at the stations of this site")] = None,
    vehicle_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[TransactionOut]:
    where = TransactionFilter(
        station_id=StationId(station_id) if station_id else None,
        state=state,
        id_token=id_token,
        started_since=started_since,
        started_until=started_until,
        limit=limit,
        offset=offset,
        site_id=SiteId(site_id) if site_id is not None else None,
        vehicle_id=VehicleId(vehicle_id) if vehicle_id is not None else None,
    )
    transactions = await core.queries.transactions(where=where)
    names = await _vehicle_names(core, transactions)
    return [TransactionOut.of(tx, names) for tx in transactions]


@router.get(
    "/transactions/{transaction_id}",
    response_model=TransactionDetailOut,
    responses={404: {"description": "unknown transaction"}},
)
async def get_transaction(transaction_id: Id, core: CoreDep, _: Viewer) -> TransactionDetailOut:
    transaction, samples = await core.queries.transaction(pk=TransactionPk(transaction_id))
    names = await _vehicle_names(core, [transaction])
    return TransactionDetailOut(
        **TransactionOut.of(transaction, names).model_dump(), samples=[SampleOut.of(s) for s in samples]
    )
