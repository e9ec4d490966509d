"""Stations with their live connector states."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from evscada.api.deps import Admin, CoreDep, Viewer
from evscada.api.schemas import StationOut
from evscada.core.model import RegistrationStatus, SecurityProfile, StationId

router = APIRouter(tags=["stations"])


@router.get("/stations", response_model=list[StationOut])
async def list_stations(core: CoreDep, _: Viewer) -> list[StationOut]:
    return [StationOut.of(view) for view in await core.queries.stations()]


@router.get("/stations/{station_id}", response_model=StationOut, responses={404: {"description": "unknown station"}})
async def get_station(station_id: str, core: CoreDep, _: Viewer) -> StationOut:
    return StationOut.of(await core.queries.station(station_id=StationId(station_id)))


class StationIn(BaseModel):
    id: str = Field(min_length=1, max_length=48, description="the id the station puts at the end of its URL")
    security_profile: Literal[0, 1, 2, 3] = 0
    password: str | None = Field(
        None,
        min_length=16,
        max_length=40,
        description="Basic Auth password for profiles 1 and 2 (OCPP: 16 to 40 characters)",
    )
    registration: Literal["Accepted", "Pending", "Rejected"] = "Accepted"


class StationChange(BaseModel):
    registration: Literal["Accepted", "Pending", "Rejected"] | None = None
    security_profile: Literal[0, 1, 2, 3] | None = None
    password: str | None = Field(None, min_length=16, max_length=40)


@router.post(
    "/stations",
    response_model=StationOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "a station with that id exists"}},
)
async def create_station(body: StationIn, core: CoreDep, _: Admin) -> StationOut:
    await core.stations.register(
        station_id=StationId(body.id),
        security_profile=SecurityProfile(body.security_profile),
        password=body.password,
        registration=RegistrationStatus(body.registration),
    )
    return StationOut.of(await core.queries.station(station_id=StationId(body.id)))


@router.patch("/stations/{station_id}", response_model=StationOut)
async def change_station(station_id: str, body: StationChange, core: CoreDep, _: Admin) -> StationOut:
    """Registration, security profile, password; the station meets them at its next connection or boot."""
    await core.stations.change(
        station_id=StationId(station_id),
        registration=RegistrationStatus(body.registration) if body.registration else None,
        security_profile=SecurityProfile(body.security_profile) if body.security_profile is not None else None,
        password=body.password,
    )
    return StationOut.of(await core.queries.station(station_id=StationId(station_id)))


@router.post("/stations/{station_id}/accept", response_model=StationOut)
async def accept_station(station_id: str, core: CoreDep, _: Admin) -> StationOut:
    """Accept a Pending station: it is answered Accepted at its next BootNotification."""
    await core.stations.change(station_id=StationId(station_id), registration=RegistrationStatus.ACCEPTED)
    return StationOut.of(await core.queries.station(station_id=StationId(station_id)))


@router.delete(
    "/stations/{station_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={409: {"description": "the station is connected"}},
)
async def delete_station(station_id: str, core: CoreDep, _: Admin) -> Response:
    """Forget a station; its transactions and history stay in the database."""
    view = await core.queries.station(station_id=StationId(station_id))
    await core.stations.remove(station_id=StationId(station_id), online=view.station.online)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
