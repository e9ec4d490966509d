"""The station page's token side, for operators: reservations (reserve now, cancel) and the local list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from evscada.api.deps import CoreDep
from evscada.console.web import PageUser, need, read_form
from evscada.core.access.users import Role
from evscada.core.charging.reservations import ACTIVE, ReservationFilter
from evscada.core.errors import DomainError, UnknownReservation
from evscada.core.model import StationId
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

RESERVATION_MINUTES = (15, 30, 60, 120, 240)


async def tokens_context(core: Core, station_id: StationId) -> dict[str, Any]:
    """Active reservations and the local list's state, for the station page."""
    where = ReservationFilter(station_id=station_id, statuses=ACTIVE, limit=100)
    return {
        "reservations": await core.reservations.list(where=where),
        "reservation_minutes": RESERVATION_MINUTES,
        "local_list": await core.local_lists.state(station_id=station_id),
    }


def _back(station_id: str, message: str, failed: bool = False, anchor: str = "reservations") -> RedirectResponse:
    url = f"/stations/{quote(station_id)}?message={quote(message)}{'&failed=1' if failed else ''}#{anchor}"
    return RedirectResponse(url, status_code=303)


@router.post("/stations/{station_id}/reservations")
async def reserve(request: Request, station_id: str, core: CoreDep, user: PageUser) -> RedirectResponse:
    """ReserveNow through the reservation service; the station's answer becomes the reservation's status."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    try:
        minutes = float(form.get("minutes") or 0)
        if not 0 < minutes <= 24 * 60:
            raise ValueError("a reservation lasts between a minute and a day")
        evse = form.get("evse_id") or ""
        sent = await core.reservations.reserve(
            station_id=StationId(station_id),
            id_token=form.get("id_token", ""),
            expires_at=core.clock.now() + timedelta(minutes=minutes),
            evse_id=int(evse) if evse else None,
            actor=user.username,
        )
    except DomainError as exc:
        return _back(station_id, exc.message, failed=True)
    except ValueError as exc:
        return _back(station_id, f"invalid input: {exc}", failed=True)
    status = sent.reservation.status
    return _back(station_id, f"reservation {sent.reservation.id}: {status}", failed=status != "accepted")


@router.post("/stations/{station_id}/reservations/{reservation_id}/cancel")
async def cancel(
    request: Request, station_id: str, reservation_id: int, core: CoreDep, user: PageUser
) -> RedirectResponse:
    await read_form(request, user)  # the CSRF check
    need(user, Role.OPERATOR)
    try:
        if (await core.reservations.get(reservation_id=reservation_id)).station_id != station_id:
            raise UnknownReservation(f"station {station_id} has no reservation {reservation_id}")
        sent = await core.reservations.cancel(reservation_id=reservation_id, actor=user.username)
    except DomainError as exc:
        return _back(station_id, exc.message, failed=True)
    answer = sent.outcome.status or sent.outcome.error or str(sent.outcome.outcome)
    return _back(station_id, f"cancel reservation {reservation_id}: {answer}", failed=sent.reservation.active)


@router.post("/stations/{station_id}/local-list")
async def send_local_list(request: Request, station_id: str, core: CoreDep, user: PageUser) -> RedirectResponse:
    """Send the local authorization list, whole or what changed since the last accepted one."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    full = form.get("update") != "differential"
    try:
        sent = await core.local_lists.send(station_id=StationId(station_id), full=full, actor=user.username)
    except DomainError as exc:
        return _back(station_id, exc.message, failed=True, anchor="local-list")
    kind = "full" if full else "differential"
    if not sent.accepted:
        answer = sent.outcome.status or sent.outcome.error or str(sent.outcome.outcome)
        return _back(station_id, f"{kind} local list not installed: {answer}", failed=True, anchor="local-list")
    done = f"{kind} local list version {sent.state.version} installed ({sent.updated} set, {sent.removed} removed)"
    return _back(station_id, done, anchor="local-list")
