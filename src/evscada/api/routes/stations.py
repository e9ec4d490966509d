"""Stations with their live connector states."""

from __future__ import annotations

from fastapi import APIRouter

from evscada.api.deps import CoreDep, Viewer
from evscada.api.schemas import StationOut
from evscada.core.model import StationId

router = APIRouter(tags=["stations"])


@router.get("/stations", response_model=list[StationOut])
async def list_stations(core: CoreDep, _: Viewer) -> list[StationOut]:
    return [StationOut.of(view) for view in await core.queries.stations()]


@router.get("/stations/{station_id}", response_model=StationOut, responses={404: {"description": "unknown station"}})
async def get_station(station_id: str, core: CoreDep, _: Viewer) -> StationOut:
    return StationOut.of(await core.queries.station(station_id=StationId(station_id)))
