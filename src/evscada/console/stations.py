"""Map, stations list and the station page; JSON summaries and HTML fragments the live scripts swap in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse

from evscada.api.deps import CoreDep
from evscada.console.paging import PAGE_SIZES, counted, read_paging
from evscada.console.station_ops import alarm_context, operations_context
from evscada.console.station_tokens import tokens_context
from evscada.console.views import STATES, StationSummary, as_json, counts, summaries
from evscada.console.web import Console, ConsoleContext, PageUser, need, page_of, read_form, render
from evscada.core.access.users import Role
from evscada.core.model import StationId

router = APIRouter(include_in_schema=False)

FRAMES_SHOWN = 100
LOGGED_FRAMES_DOWNLOADED = 100_000

_SORTS: dict[str, Callable[[StationSummary], Any]] = {
    "id": lambda s: s.station.id,
    "name": lambda s: s.title.lower(),
    "state": lambda s: STATES.index(s.state),
    "site": lambda s: s.site.name.lower() if s.site else "~",
    "last_seen": lambda s: s.station.last_seen or datetime.min.replace(tzinfo=UTC),
    "firmware": lambda s: s.station.firmware_version or "",
    "ocpp": lambda s: s.station.ocpp_version or "",
    "profile": lambda s: int(s.station.security_profile),
}


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/overview")


@router.get("/map", response_class=HTMLResponse)
async def map_page(request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    items = await summaries(core)
    sites = await core.sites.list()
    return render(
        request,
        "map.html",
        user,
        stations=[as_json(s) for s in items],
        counts=counts(items),
        states=STATES,
        sites=sites,
        # For the site filter's zoom and the offline base map's labels.
        site_places=[{"id": s.id, "name": s.name, "lat": s.latitude, "lon": s.longitude} for s in sites],
    )


@router.get("/data/stations")
async def stations_data(core: CoreDep, user: PageUser) -> JSONResponse:
    return JSONResponse([as_json(s) for s in await summaries(core)])


@router.get("/data/stations/{station_id}")
async def station_data(station_id: str, core: CoreDep, user: PageUser) -> JSONResponse:
    (item,) = await summaries(core, [StationId(station_id)])
    return JSONResponse(as_json(item))


def _listed(items: list[StationSummary], q: str, state: str, site: str, sort: str) -> list[StationSummary]:
    needle = q.strip().lower()
    if needle:
        items = [s for s in items if needle in s.station.id.lower() or needle in s.title.lower()]
    if state in STATES:
        items = [s for s in items if s.state == state]
    if site.isdigit():
        items = [s for s in items if s.station.site_id == int(site)]
    key = sort.lstrip("-")
    return sorted(items, key=_SORTS.get(key, _SORTS["id"]), reverse=sort.startswith("-"))


@router.get("/stations", response_class=HTMLResponse)
async def stations_page(*, request: Request, core: CoreDep, user: PageUser) -> HTMLResponse:
    """One page of the filtered, sorted list: a browser given 5,000 rows at once takes seconds to lay them out."""
    paging, problems = read_paging(request, "/stations", "q", "state", "site", "sort")
    q, state, site = paging.filters["q"], paging.filters["state"], paging.filters["site"]
    sort = paging.filters["sort"] or "id"
    items = _listed(await summaries(core), q, state, site, sort)
    paging = counted(paging, len(items), len(items[paging.offset : paging.offset + paging.limit]))
    template = "stations_rows.html" if request.query_params.get("fragment") else "stations.html"
    return render(
        request,
        template,
        user,
        stations=items[paging.offset : paging.offset + paging.limit],
        paging=paging,
        page_sizes=PAGE_SIZES,
        problems=problems,
        q=q,
        state=state,
        site=site,
        sort=sort,
        states=STATES,
        sites=await core.sites.list(),
    )


@router.get("/stations/{station_id}", response_class=HTMLResponse)
async def station_page(
    request: Request, station_id: str, core: CoreDep, console: Console, user: PageUser
) -> HTMLResponse:
    sid = StationId(station_id)
    with page_of(user):
        (item,) = await summaries(core, [sid])
    part = request.query_params.get("fragment")
    context: dict[str, Any] = {"s": item}
    if part in (None, "commands"):
        context["commands"] = await core.queries.commands(station_id=sid, limit=50)
    if part in (None, "history"):
        context["history"] = await core.monitoring.status_history(station_id=sid, limit=50)
    if part in (None, "frames"):
        context["frames"] = await _frames(console, sid)
        context["logging"] = (await core.frame_log.switched_on()).get(sid)
    if part == "alarms":
        context.update(await alarm_context(core, sid))
    if part in (None, "profiles"):
        context["profiles"] = await core.charging_profiles.profiles(station_id=sid, in_force=True)
        context["charging_limits"] = await core.charging_reports.limits(station_id=sid)
    if part is None:
        context.update(await operations_context(core, sid))
        if user.role.allows(Role.OPERATOR):
            context.update(await tokens_context(core, sid))
        context["message"] = request.query_params.get("message")
        context["failed"] = request.query_params.get("failed") == "1"
        context["tokens"] = await core.authorization.tokens(limit=500, offset=0)
        context["vehicles"] = {v.id: v for v in await core.vehicles.list()}
        return render(request, "station.html", user, **context)
    template = {
        "connectors": "station_connectors.html",
        "commands": "station_commands.html",
        "alarms": "station_alarms.html",
        "profiles": "station_profiles.html",
        "history": "station_history.html",
    }.get(part, "station_log.html")
    return render(request, template, user, **context)


@router.post("/stations/{station_id}/frame-logging")
async def switch_frame_logging(request: Request, station_id: str, core: CoreDep, user: PageUser) -> RedirectResponse:
    """Keep this station's OCPP frames in the database from now on (or stop): for analysing faults with the vendor."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    await core.queries.station(station_id=StationId(station_id))  # 404 for an unknown station
    await core.frame_log.switch(station_id=StationId(station_id), on=form.get("on") == "1", actor=user.username)
    return RedirectResponse(f"/stations/{quote(station_id)}#frames", status_code=303)


@router.get("/stations/{station_id}/frames.txt")
async def logged_frames(station_id: str, core: CoreDep, user: PageUser) -> PlainTextResponse:
    """The stored frames, oldest first, one a line: what a vendor's support asks for."""
    frames = await core.frame_log.recent(station_id=StationId(station_id), limit=LOGGED_FRAMES_DOWNLOADED)
    arrows = {"in": "<-", "out": "->", "upstream-in": "upstream <-", "upstream-out": "upstream ->"}  # OCPP proxy
    lines = [f"{f.at.isoformat()} {arrows.get(f.direction, f.direction)} {f.frame}" for f in reversed(frames)]
    return PlainTextResponse(
        "\n".join(lines) + "\n",
        headers={"Content-Disposition": f'attachment; filename="{quote(station_id)}-frames.txt"'},
    )


async def _frames(console: ConsoleContext, station_id: StationId) -> list[tuple[datetime, str, str]]:
    """The gateway's recent frames of the station (on whichever node holds it), newest first."""
    frames = await console.station_frames(station_id)
    return [(datetime.fromtimestamp(at, UTC), way, text) for at, way, text in reversed(frames[-FRAMES_SHOWN:])]
