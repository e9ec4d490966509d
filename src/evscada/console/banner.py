"""The alarm banner on every page: the one alarm an operator should look at now, and how many more are waiting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from evscada.api.deps import CoreDep
from evscada.console.alarms import count_groups
from evscada.console.web import PageUser
from evscada.core.alarms.service import AlarmFilter
from evscada.core.model import Alarm
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

PRIORITY_NAMES = {1: "critical", 2: "high", 3: "medium", 4: "info"}
# Alarms looked at: far more than a healthy system has waiting; the banner only needs the most urgent of them.
SCANNED = 1000


def waiting(alarm: Alarm, now: datetime) -> bool:
    """Not put aside on purpose: no shelf running, not raised in maintenance (and not acknowledged meanwhile)."""
    shelved = alarm.shelved_until is not None and alarm.shelved_until > now
    return alarm.acknowledged_at is None and not shelved and not alarm.suppressed


async def waiting_alarms(core: Core) -> list[Alarm]:
    """ISA-18.2 standing alarms nobody has acknowledged: active ones, and cleared ones not yet seen. The service
    lists them most urgent first, then newest first: the banner's order."""
    now = core.clock.now()
    alarms = await core.alarms.list(where=AlarmFilter(standing=True, unacknowledged=True, limit=SCANNED))
    return [a for a in alarms if waiting(a, now)]


def _shown(alarm: Alarm) -> dict[str, Any]:
    priority = int(alarm.priority)
    return {
        "id": int(alarm.id),
        "priority": priority,
        "priority_name": PRIORITY_NAMES.get(priority, str(priority)),
        "station_id": alarm.station_id,
        "message": alarm.message,
        "source": alarm.source,
        "state": str(alarm.state),
        "raised_at": alarm.raised_at.isoformat(),
        "url": f"/alarms#alarm-{int(alarm.id)}",
    }


@router.get("/data/alarms/banner")
async def banner(core: CoreDep, user: PageUser) -> JSONResponse:
    """The newest unacknowledged alarm of the highest priority (or null) and how many are waiting, a cause and its
    consequences (ISA-18.2 grouping) counted once; `now` lets the page show the alarm's age by the server's clock,
    whatever the browser's clock says."""
    alarms = await waiting_alarms(core)
    return JSONResponse(
        {
            "alarm": _shown(alarms[0]) if alarms else None,
            "count": count_groups(alarms, lambda _alarm: True),
            "now": core.clock.now().isoformat(),
        }
    )
