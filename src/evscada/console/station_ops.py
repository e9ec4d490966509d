"""The station page's operations side: its active alarms, maintenance mode and availability."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from evscada.api.deps import CoreDep
from evscada.console.alarms import PRIORITIES, SHELF_MINUTES, active_alarms, group_alarms
from evscada.console.web import PageUser, need, read_form
from evscada.core.access.users import Role
from evscada.core.errors import DomainError
from evscada.core.model import StationId
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

AVAILABILITY_DAYS = (7, 30)


@dataclass(frozen=True, slots=True)
class AvailabilityLine:
    days: int
    percent: float | None  # None: nothing known about the period
    outages: int


async def alarm_context(core: Core, station_id: StationId) -> dict[str, Any]:
    """What the station's alarm list (a fragment of its own, swapped live) needs."""
    alarms = await active_alarms(core, station_id)
    return {
        "alarms": alarms,
        "alarm_groups": group_alarms(alarms),
        "priorities": PRIORITIES,
        "shelf_minutes": SHELF_MINUTES,
        "alarm_history": False,
        "back": f"/stations/{quote(station_id)}#alarms",
    }


async def operations_context(core: Core, station_id: StationId) -> dict[str, Any]:
    """Alarms, maintenance and availability for the full station page."""
    lines = []
    for days in AVAILABILITY_DAYS:
        measured = await core.availability.station(
            station_id=station_id, start=core.clock.now() - timedelta(days=days), end=None
        )
        share = measured.station.availability
        lines.append(AvailabilityLine(days, None if share is None else share * 100, len(measured.station.outages)))
    return {
        **await alarm_context(core, station_id),
        "maintenance": await core.alarms.maintenance(station_id=station_id),
        "availability": lines,
    }


def _back(station_id: str, message: str, failed: bool = False, anchor: str = "maintenance") -> RedirectResponse:
    url = f"/stations/{quote(station_id)}?message={quote(message)}{'&failed=1' if failed else ''}#{anchor}"
    return RedirectResponse(url, status_code=303)


@router.post("/stations/{station_id}/maintenance")
async def maintenance(request: Request, station_id: str, core: CoreDep, user: PageUser) -> RedirectResponse:
    """Start (or replace) or end a maintenance period: the alarm service records it, as for the REST API."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    sid = StationId(station_id)
    try:
        if form.get("action") == "end":
            await core.alarms.end_maintenance(station_id=sid, by=user.username)
            return _back(station_id, "maintenance ended: the station's alarms are notified again")
        until = datetime.fromisoformat(form.get("until", ""))
        until = until.replace(tzinfo=UTC) if until.tzinfo is None else until  # the console's times are UTC
        await core.alarms.start_maintenance(
            station_id=sid, by=user.username, until=until, reason=form.get("reason", "")[:300]
        )
    except DomainError as exc:
        return _back(station_id, exc.message, failed=True)
    except ValueError:
        return _back(station_id, "give the end of the maintenance as a date and time", failed=True)
    return _back(station_id, f"in maintenance until {until:%Y-%m-%d %H:%M} UTC")
