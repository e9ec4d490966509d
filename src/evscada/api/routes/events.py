"""Live events as server-sent events: status changes, meter values, transactions, commands."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from evscada.api.deps import Context, Viewer
from evscada.api.params import Id
from evscada.api.routes.alarms import alarm_json
from evscada.core import events

router = APIRouter(tags=["events"])

SITE_MAP_SECONDS = 30.0  # a station moved to another site counts there after this long
KEEPALIVE_SECONDS = 15.0  # a comment line keeps proxies from closing an idle stream


def event_type(event: events.Event) -> str:
    """ConnectorStatusChanged -> connector_status_changed: the name clients filter on."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def encode(event: events.Event) -> str:
    if isinstance(event, events.AlarmChanged):  # the alarm as GET /alarms/{id} shows it
        data: dict[str, Any] = {"station_id": event.station_id, "at": event.at.isoformat(), "change": event.change}
        data["alarm"] = alarm_json(event.alarm)
    else:
        data = _jsonable(dataclasses.asdict(event))
    return f"event: {event_type(event)}\ndata: {json.dumps({'type': event_type(event), **data})}\n\n"


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "a never-ending event stream"}},
)
async def stream_events(
    context: Context,
    _: Viewer,
    station_id: Annotated[list[str] | None, Query(description="only these stations (repeatable)")] = None,
    site_id: Annotated[list[Id] | None, Query(description="only the stations of these sites (repeatable)")] = None,
    event_types: Annotated[
        list[str] | None, Query(alias="type", description="only these event types, e.g. connector_status_changed")
    ] = None,
) -> StreamingResponse:
    stations = set(station_id or ())
    sites = set(site_id or ())
    types = set(event_types or ())
    bus, core = context.bus, context.core
    site_of: dict[str, int | None] = {}
    site_map_at = -SITE_MAP_SECONDS

    async def at_site(station: str) -> bool:
        """Whether a station belongs to one of the wanted sites; the station-to-site map is re-read now and then."""
        nonlocal site_of, site_map_at
        now = asyncio.get_running_loop().time()
        if now - site_map_at > SITE_MAP_SECONDS:
            site_of = {s.id: s.site_id for s in await core.stations.list()}
            site_map_at = now
        return site_of.get(station) in sites

    async def stream() -> AsyncIterator[str]:
        async with bus.subscribe() as queue:
            yield ": connected\n\n"
            closing = asyncio.create_task(context.closing.wait())
            getting: asyncio.Task[events.Event] | None = None
            try:
                while not closing.done():
                    getting = getting or asyncio.create_task(queue.get())  # kept across keep-alives
                    done, _ = await asyncio.wait(
                        {getting, closing}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getting not in done:
                        if not closing.done():
                            yield ": keep-alive\n\n"
                        continue
                    event, getting = getting.result(), None
                    if isinstance(event, events.Internal):
                        continue
                    if stations and event.station_id not in stations:
                        continue
                    if sites and not await at_site(event.station_id):
                        continue
                    if types and event_type(event) not in types:
                        continue
                    yield encode(event)
            finally:
                # The stream owns both waits: a browser leaving cancels us in the middle of one, and a wait left
                # pending would be destroyed with the queue ("Task was destroyed but it is pending!").
                for task in (closing, getting):
                    if task is not None:
                        task.cancel()

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
