"""The transaction database, for operators and billing systems."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from evscada.api.deps import CoreDep, Viewer
from evscada.api.schemas import SampleOut, TransactionDetailOut, TransactionOut
from evscada.core.model import StationId, TransactionPk, TransactionState
from evscada.core.queries import TransactionFilter

router = APIRouter(tags=["transactions"])


@router.get("/transactions", response_model=list[TransactionOut])
async def list_transactions(
    *,
    core: CoreDep,
    _: Viewer,
    station_id: str | None = None,
    state: TransactionState | None = None,
    id_token: str | None = None,
    started_since: Annotated[
        datetime | None, Query(description="ISO 8601 with offset, e.g. 2026-11-01T00:00:00Z")
    ] = None,
    started_until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TransactionOut]:
    where = TransactionFilter(
        station_id=StationId(station_id) if station_id else None,
        state=state,
        id_token=id_token,
        started_since=started_since,
        started_until=started_until,
        limit=limit,
        offset=offset,
    )
    return [TransactionOut.of(tx) for tx in await core.queries.transactions(where=where)]


@router.get(
    "/transactions/{transaction_id}",
    response_model=TransactionDetailOut,
    responses={404: {"description": "unknown transaction"}},
)
async def get_transaction(transaction_id: int, core: CoreDep, _: Viewer) -> TransactionDetailOut:
    transaction, samples = await core.queries.transaction(pk=TransactionPk(transaction_id))
    return TransactionDetailOut(
        **TransactionOut.of(transaction).model_dump(), samples=[SampleOut.of(s) for s in samples]
    )
