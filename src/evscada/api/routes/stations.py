"""Stations with their live connector states."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from evscada.api.deps import Admin, CoreDep, Viewer
from evscada.api.layout_schemas import StationSupply
from evscada.api.params import Id
from evscada.api.schemas import StationOut, StationPassword, StationPlacement
from evscada.core.charging.queries import StationFilter
from evscada.core.model import ConnectorStatus, RegistrationStatus, SecurityProfile, SiteId, StationId, Supply

router = APIRouter(tags=["stations"])


@router.get("/stations", response_model=list[StationOut])
async def list_stations(
    *,
    core: CoreDep,
    _: Viewer,
    status: Annotated[ConnectorStatus | None, Query(description="a connector is in this state")] = None,
    online: bool | None = None,
    site_id: Id | None = None,
    model: Annotated[str | None, Query(max_length=50, description="exact model, any case")] = None,
    search: Annotated[
        str | None, Query(min_length=1, max_length=100, description="part of the id, name, vendor or serial number")
    ] = None,
) -> list[StationOut]:
    where = StationFilter(
        status=str(status) if status else None,
        online=online,
        site_id=SiteId(site_id) if site_id is not None else None,
        model=model,
        search=search,
    )
    return [StationOut.of(view) for view in await core.queries.stations(where=where)]


@router.get("/stations/{station_id}", response_model=StationOut, responses={404: {"description": "unknown station"}})
async def get_station(station_id: str, core: CoreDep, _: Viewer) -> StationOut:
    return StationOut.of(await core.queries.station(station_id=StationId(station_id)))


class StationIn(BaseModel):
    id: str = Field(min_length=1, max_length=48, description="the id the station puts at the end of its URL")
    security_profile: Literal[0, 1, 2, 3] = 0
    password: StationPassword | None = Field(
        None, description="Basic Auth password for profiles 1 and 2 (OCPP: 16 to 40 characters)"
    )
    registration: Literal["Accepted", "Pending", "Rejected"] = "Accepted"


class StationChange(StationPlacement, StationSupply):
    model_config = ConfigDict(extra="forbid")

    registration: Literal["Accepted", "Pending", "Rejected"] | None = None
    security_profile: Literal[0, 1, 2, 3] | None = None
    password: StationPassword | None = None


@router.post(
    "/stations",
    response_model=StationOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "a station with that id exists"}},
)
async def create_station(body: StationIn, core: CoreDep, user: Admin) -> StationOut:
    await core.stations.register(
        station_id=StationId(body.id),
        security_profile=SecurityProfile(body.security_profile),
        password=body.password,
        registration=RegistrationStatus(body.registration),
        actor=user.username,
    )
    return StationOut.of(await core.queries.station(station_id=StationId(body.id)))


@router.patch("/stations/{station_id}", response_model=StationOut)
async def change_station(station_id: str, body: StationChange, core: CoreDep, user: Admin) -> StationOut:
    """Registration, security profile, password (met at the next connection or boot); name, site and location;
    its supply for load management (feeder, maximum power per EVSE, AC or DC, phases).

    Fields left out keep their value; an explicit null clears name, site_id, the location or a supply field. A
    station moved to another site leaves its feeder unless the body names one of the new site's."""
    sid = StationId(station_id)
    placement = body.model_fields_set & set(StationPlacement.model_fields)
    supply = body.model_fields_set & set(StationSupply.model_fields)
    s = (await core.queries.station(station_id=sid)).station
    moved = False
    if placement:
        merged = body.merged_placement(
            {"name": s.name, "site_id": s.site_id, "latitude": s.latitude, "longitude": s.longitude}
        )
        moved = merged["site_id"] != s.site_id
        await core.sites.place_station(
            station_id=sid,
            name=merged["name"],
            site_id=SiteId(merged["site_id"]) if merged["site_id"] is not None else None,
            latitude=merged["latitude"],
            longitude=merged["longitude"],
            actor=user.username,
        )
    if supply or (moved and s.feeder_id is not None):
        current = {"feeder_id": None if moved else s.feeder_id, "max_power_w": s.max_power_w, "phases": s.phases}
        fields = body.merged_supply({**current, "supply": None if s.supply is None else str(s.supply)})
        await core.layout.set_station_supply(
            station_id=sid,
            feeder_id=fields["feeder_id"],
            max_power_w=fields["max_power_w"],
            supply=Supply(fields["supply"]) if fields["supply"] is not None else None,
            phases=fields["phases"],
            actor=user.username,
        )
    if body.model_fields_set - placement - supply or not (placement or supply):
        await core.stations.change(
            station_id=sid,
            registration=RegistrationStatus(body.registration) if body.registration else None,
            security_profile=SecurityProfile(body.security_profile) if body.security_profile is not None else None,
            password=body.password,
            actor=user.username,
        )
    return StationOut.of(await core.queries.station(station_id=StationId(station_id)))


@router.post("/stations/{station_id}/accept", response_model=StationOut)
async def accept_station(station_id: str, core: CoreDep, user: Admin) -> StationOut:
    """Accept a Pending station: it is answered Accepted at its next BootNotification."""
    await core.stations.set_registration(
        station_id=StationId(station_id), registration=RegistrationStatus.ACCEPTED, actor=user.username
    )
    return StationOut.of(await core.queries.station(station_id=StationId(station_id)))


@router.delete(
    "/stations/{station_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={409: {"description": "the station is connected"}},
)
async def delete_station(station_id: str, core: CoreDep, user: Admin) -> Response:
    """Forget a station; its transactions and history stay in the database."""
    view = await core.queries.station(station_id=StationId(station_id))
    await core.stations.remove(station_id=StationId(station_id), online=view.station.online, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
