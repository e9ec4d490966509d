"""Reservations: made and cancelled as commands, listed and read as records."""

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import Field

from evscada.api.command_schemas import ReservationCommandOut, ReservationOut
from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.params import EvseIdOrZero, Id, Offset, Time
from evscada.api.routes.commands import FAILURE_DOCS, CommandBody, raise_failure
from evscada.core.charging.reservations import ACTIVE, ReservationFilter, ReservationStatus
from evscada.core.errors import CommandNotSupported
from evscada.core.model import StationId

router = APIRouter(tags=["reservations"])

ConnectorType = Literal[
    "cCCS1",
    "cCCS2",
    "cG105",
    "cTesla",
    "cType1",
    "cType2",
    "s309-1P-16A",
    "s309-1P-32A",
    "s309-3P-16A",
    "s309-3P-32A",
    "sBS1361",
    "sCEE-7-7",
    "sType2",
    "sType3",
    "Other1PhMax16A",
    "Other1PhOver16A",
    "Other3Ph",
    "Pan",
    "wInductive",
    "wResonant",
    "Undetermined",
    "Unknown",
]


class ReserveNowBody(CommandBody):
    id_token: str = Field(min_length=1, max_length=36, description="a token of the token table")
    expires_at: Time = Field(description="when the reservation ends; must be in the future")
    evse_id: EvseIdOrZero | None = Field(None, description="EVSE (1.6: connector); absent or 0: any")
    connector_type: ConnectorType | None = Field(None, description="2.0.1 only: any EVSE with this connector")
    group_id: str | None = Field(None, max_length=36, description="others of this group may use it (default: token's)")


class CancelReservationBody(CommandBody):
    reservation_id: Id


@router.post(
    "/stations/{station_id}/commands/reserve_now",
    response_model=ReservationCommandOut,
    responses=FAILURE_DOCS | {422: {"description": "expiry not in the future, unknown or blocked token"}},
    summary="send reserve now",
)
async def reserve_now(station_id: str, body: ReserveNowBody, core: CoreDep, user: Operator) -> ReservationCommandOut:
    """Store a reservation and send it; its status is the station's answer (accepted, occupied, ...)."""
    await core.queries.station(station_id=StationId(station_id))
    try:
        sent = await core.reservations.reserve(
            station_id=StationId(station_id),
            id_token=body.id_token,
            expires_at=body.expires_at,
            evse_id=body.evse_id,
            connector_type=body.connector_type,
            group_id=body.group_id,
            actor=user.username,
            reason=body.reason,
        )
    except CommandNotSupported as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.message) from None
    result = ReservationCommandOut.of_sent(sent)
    raise_failure(result)
    return result


@router.post(
    "/stations/{station_id}/commands/cancel_reservation",
    response_model=ReservationCommandOut,
    responses=FAILURE_DOCS | {409: {"description": "offline, or the reservation is no longer active"}},
    summary="send cancel reservation",
)
async def cancel_reservation(
    station_id: str, body: CancelReservationBody, core: CoreDep, user: Operator
) -> ReservationCommandOut:
    """Only an Accepted answer marks the reservation cancelled."""
    reservation = await core.reservations.get(reservation_id=body.reservation_id)
    if reservation.station_id != station_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} has no reservation {reservation.id}")
    sent = await core.reservations.cancel(reservation_id=body.reservation_id, actor=user.username, reason=body.reason)
    result = ReservationCommandOut.of_sent(sent)
    raise_failure(result)
    return result


@router.get("/reservations", response_model=list[ReservationOut])
async def reservations(
    *,
    core: CoreDep,
    _: Viewer,
    station_id: str | None = None,
    status_: Annotated[list[ReservationStatus] | None, Query(alias="status")] = None,
    active: bool | None = Query(None, description="true: pending or accepted only; false: ended ones only"),
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[ReservationOut]:
    """Newest first; expired ones are marked expired before they are read."""
    statuses = frozenset(status_ or ())
    if active is True:
        statuses = (statuses or ACTIVE) & ACTIVE
    elif active is False:
        statuses = (statuses or frozenset(ReservationStatus)) - ACTIVE
    if active is not None and not statuses:
        return []
    where = ReservationFilter(
        station_id=StationId(station_id) if station_id else None, statuses=statuses, limit=limit, offset=offset
    )
    return [ReservationOut.of(r) for r in await core.reservations.list(where=where)]


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
async def reservation(reservation_id: Id, core: CoreDep, _: Viewer) -> ReservationOut:
    return ReservationOut.of(await core.reservations.get(reservation_id=reservation_id))
