"""Vehicles and the tokens they charge with; operators keep the fleet current."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.params import Id, Offset
from evscada.api.routes.tokens import TOTAL_HEADER, Limit, Search, TokenOut
from evscada.api.schemas import Priority, TokenLinkIn, VehicleIn, VehicleOut, VehiclePatch
from evscada.core.errors import UnknownToken
from evscada.core.model import Vehicle, VehicleId
from evscada.core.services import Core

router = APIRouter(tags=["vehicles"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "unknown vehicle (or token)"}}


def _out(core: Core, vehicle: Vehicle, tokens: list[str] | None = None) -> VehicleOut:
    return VehicleOut.of(vehicle, tokens, next_departure_at=core.vehicles.next_departure_at(vehicle))


@router.get("/vehicles", response_model=list[VehicleOut])
async def list_vehicles(
    core: CoreDep, _: Viewer, response: Response, q: Search = None, limit: Limit = 1000, offset: Offset = 0
) -> list[VehicleOut]:
    """A page of vehicles by name; `q` keeps those whose name, plate, fleet number or fleet contains it. The
    X-Total-Count header says how many match."""
    response.headers[TOTAL_HEADER] = str(await core.vehicles.count(search=q))
    return [_out(core, vehicle) for vehicle in await core.vehicles.list(search=q, limit=limit, offset=offset)]


@router.get("/vehicles/{vehicle_id}", response_model=VehicleOut, responses=_NOT_FOUND)
async def get_vehicle(vehicle_id: Id, core: CoreDep, _: Viewer) -> VehicleOut:
    """A vehicle with the tokens linked to it, and when it leaves next (`next_departure_at`, UTC): its one-off
    departure while that is ahead, otherwise its daily `departure_time` on the operator's clock (operator_timezone)."""
    vehicle, tokens = await core.vehicles.detail(vehicle_id=VehicleId(vehicle_id))
    return _out(core, vehicle, tokens)


@router.post(
    "/vehicles",
    response_model=VehicleOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "a vehicle with that name exists"}},
)
async def create_vehicle(body: VehicleIn, core: CoreDep, user: Operator) -> VehicleOut:
    vehicle = await core.vehicles.create(**body.model_dump(), actor=user.username)
    return _out(core, vehicle, [])


@router.patch("/vehicles/{vehicle_id}", response_model=VehicleOut, responses=_NOT_FOUND)
async def change_vehicle(vehicle_id: Id, body: VehiclePatch, core: CoreDep, user: Operator) -> VehicleOut:
    """Fields left out keep their value; an explicit null clears one (not the name, nor the priority)."""
    current, tokens = await core.vehicles.detail(vehicle_id=VehicleId(vehicle_id))
    fields = body.merged({name: getattr(current, name) for name in VehiclePatch.model_fields})
    vehicle = await core.vehicles.update(vehicle=Vehicle(id=current.id, **fields), actor=user.username)
    return _out(core, vehicle, tokens)


class FleetPriorityIn(BaseModel):
    priority: Priority


@router.put("/fleets/{fleet}/priority", response_model=list[VehicleOut], responses=_NOT_FOUND)
async def set_fleet_priority(fleet: str, body: FleetPriorityIn, core: CoreDep, user: Operator) -> list[VehicleOut]:
    """Every vehicle of the fleet charges at this priority (higher first when power is short); audited."""
    vehicles = await core.vehicles.set_fleet_priority(fleet=fleet, priority=body.priority, actor=user.username)
    return [_out(core, v, None) for v in vehicles]


@router.delete(
    "/vehicles/{vehicle_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_NOT_FOUND
)
async def delete_vehicle(vehicle_id: Id, core: CoreDep, user: Operator) -> Response:
    """Its tokens stay, unlinked; past sessions keep the vehicle id they recorded."""
    await core.vehicles.delete(vehicle_id=VehicleId(vehicle_id), actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/vehicles/{vehicle_id}/tokens", response_model=TokenOut, responses=_NOT_FOUND)
async def link_token(vehicle_id: Id, body: TokenLinkIn, core: CoreDep, user: Operator) -> TokenOut:
    """Sessions this token starts from now on record this vehicle."""
    token = await core.vehicles.link_token(
        token_value=body.value, vehicle_id=VehicleId(vehicle_id), actor=user.username
    )
    return TokenOut.of(token)


@router.delete(
    "/vehicles/{vehicle_id}/tokens/{value}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_NOT_FOUND,
)
async def unlink_token(
    vehicle_id: Id, value: Annotated[str, Path(min_length=1, max_length=36)], core: CoreDep, user: Operator
) -> Response:
    _, tokens = await core.vehicles.detail(vehicle_id=VehicleId(vehicle_id))
    if value not in tokens:
        raise UnknownToken(f"token {value} is not linked to vehicle {vehicle_id}")
    await core.vehicles.link_token(token_value=value, vehicle_id=None, actor=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
