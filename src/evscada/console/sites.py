"""Sites: what each draws against its grid limit, each session's allocation and why, and its departure plan.

The site load manager (core/energy/site_manager.py) holds the live picture; the page reads it through the API's
context, as the REST routes do. Without load management in this process the page says so and lists the site's
stations. Operators set and lift an emergency curtailment here; it is the same call the REST API makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from evscada.api.deps import Context, CoreDep
from evscada.console.views import StationSummary, summaries
from evscada.console.web import PageNotFound, PageUser, need, page_of, read_form, render, templates
from evscada.core.access.users import Role, User
from evscada.core.energy.allocation import Reason
from evscada.core.energy.grid import Curtailment, Limit, LimitPeriod
from evscada.core.energy.planner import Shortfall
from evscada.core.energy.site_manager import SiteLoadManager
from evscada.core.energy.site_view import NodeDraw, SessionDraw, SiteDraw
from evscada.core.errors import DomainError
from evscada.core.model import Site, SiteId
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

TREND_MINUTES = 60  # the trend's default window; the manager keeps its history in memory only
MAX_TREND_MINUTES = 24 * 60

REASONS: dict[Reason, str] = {
    Reason.MINIMUM: "minimum",
    Reason.EQUAL_SHARE: "equal share",
    Reason.PRIORITY: "priority",
    Reason.CAPPED: "capped by its maximum",
    Reason.TAPERING: "tapering",
    Reason.DEPARTURE_PLAN: "departure plan",
    Reason.PAUSED: "paused: no capacity",
    Reason.OFFLINE_RESERVE: "offline: reserved",
    Reason.UNCONTROLLED_RESERVE: "not obeying: reserved",
}

SHORTFALLS: dict[Shortfall, str] = {
    Shortfall.VEHICLE: "not enough vehicle power or time",
    Shortfall.SITE: "not enough site capacity",
}


def kw_text(watts: float | None, unit: bool = True) -> str:
    """W as kW for people: one decimal (none from 1 MW), never "-0.0"."""
    if watts is None or not math.isfinite(watts):
        return "—"
    value = watts / 1000
    text = f"{round(value) + 0:.0f}" if abs(value) >= 1000 else f"{round(value, 1) + 0.0:.1f}"
    return f"{text} kW" if unit else text


def kwh_text(wh: float) -> str:
    return f"{round(wh / 1000, 1) + 0.0:.1f} kWh"


def limit_text(limit: Limit) -> str:
    """A node's limit in words: kW and/or A per phase; 'none' when it has neither."""
    parts = []
    if limit.watts is not None:
        parts.append(kw_text(limit.watts))
    if limit.amps is not None:
        parts.append(f"{round(limit.amps, 1) + 0.0:.1f} A per phase")
    return " · ".join(parts) or "none"


def reason_text(reason: Reason | str) -> str:
    try:
        return REASONS[Reason(reason)]
    except ValueError:
        return str(reason).replace("_", " ")


def percent(part: float | None, whole: float | None) -> float:
    """Where on the bar (0-100) a value sits."""
    if part is None or not whole or whole <= 0:
        return 0.0
    return max(0.0, min(100.0, part / whole * 100))


def until_text(moment: datetime, now: datetime) -> str:
    """'in 2 h 05 min' (or '… ago'): how far a departure or a curtailment's end is."""
    seconds = int((moment - now).total_seconds())
    span = abs(seconds)
    words = f"{span // 3600} h {span % 3600 // 60:02d} min" if span >= 3600 else f"{span // 60} min"
    return f"in {words}" if seconds >= 0 else f"{words} ago"


templates.env.filters.update(site_kw=kw_text, site_kwh=kwh_text, site_limit=limit_text, site_reason=reason_text)


@dataclass(frozen=True, slots=True)
class NodeLine:
    name: str
    limit: Limit
    draw_w: float
    allocated_w: float
    indent: int  # 0 for the connection, 1 for a feeder under it ...

    @property
    def share(self) -> float:
        return percent(self.draw_w, self.limit.watts)


@dataclass(frozen=True, slots=True)
class SitePicture:
    """A site now, as the page shows it."""

    draw: SiteDraw
    curtailment: Curtailment | None  # in force now
    upcoming: tuple[LimitPeriod, ...]  # the limit curve from now on
    names: dict[str, str]  # station id -> its name

    @property
    def allocated_w(self) -> float:
        return sum(s.allocation.watts for s in self.draw.sessions)

    @property
    def scale_w(self) -> float:
        """The bar's full width: the largest of capacity, limit, draw and allocation (and never 0)."""
        values = [self.draw.capacity_w, self.draw.limit.watts, self.draw.draw_w, self.allocated_w]
        return max([v for v in values if v is not None and math.isfinite(v)] + [1.0])

    def bar(self, watts: float | None) -> float:
        return percent(watts, self.scale_w)

    @property
    def over(self) -> bool:
        limit = self.draw.limit.watts
        return limit is not None and self.draw.draw_w > limit * 1.001

    @property
    def sessions(self) -> list[SessionDraw]:
        return sorted(self.draw.sessions, key=lambda s: (s.allocation.station_id, s.evse_id))

    @property
    def nodes(self) -> list[NodeLine]:
        """The connection and its feeders; the connection alone, from the totals, when the manager names no nodes."""
        if not self.draw.nodes:
            d = self.draw
            return [NodeLine("Grid connection", d.limit, d.draw_w, self.allocated_w, 0)]
        return [NodeLine(n.name, n.limit, n.draw_w, n.allocated_w, _depth(n, self.draw.nodes)) for n in self.draw.nodes]

    def station_name(self, station_id: str) -> str:
        return self.names.get(station_id, station_id)


def _depth(node: NodeDraw, nodes: tuple[NodeDraw, ...]) -> int:
    parents = {n.id: n.parent for n in nodes}
    depth, parent = 0, node.parent
    while parent is not None and depth < len(nodes):
        depth, parent = depth + 1, parents.get(parent)
    return depth


async def _picture(manager: SiteLoadManager, site: Site, stations: list[StationSummary]) -> SitePicture:
    draw = await manager.draw(site_id=site.id)
    limits = manager.limits(site.id)
    now = draw.at
    curtailment = limits.curtailment if limits.curtailment and limits.curtailment.until > now else None
    upcoming = tuple(p for p in limits.curve if p.end is None or p.end > now)
    return SitePicture(draw, curtailment, upcoming, {s.station.id: s.title for s in stations})


async def _site(core: Core, user: User, site_id: str) -> Site:
    if not site_id.isdigit():
        raise PageNotFound(user, f"no site {site_id}")
    with page_of(user):
        return await core.sites.get(site_id=SiteId(int(site_id)))


def _stations_of(items: list[StationSummary], site: Site) -> list[StationSummary]:
    return sorted((s for s in items if s.station.site_id == site.id), key=lambda s: s.station.id)


@router.get("/sites", response_class=HTMLResponse)
async def sites_page(request: Request, core: CoreDep, context: Context, user: PageUser) -> HTMLResponse:
    manager = context.load_manager
    items = await summaries(core)
    rows = []
    for site in sorted(await core.sites.list(), key=lambda s: s.name.lower()):
        stations = _stations_of(items, site)
        picture = None
        if manager is not None and manager.manages(site):
            picture = await _picture(manager, site, stations)  # only sites with a limit are managed
        rows.append({"site": site, "stations": stations, "picture": picture})
    return render(request, "sites.html", user, rows=rows, managing=manager is not None)


@router.get("/sites/{site_id}", response_class=HTMLResponse)
async def site_page(request: Request, site_id: str, core: CoreDep, context: Context, user: PageUser) -> HTMLResponse:
    site = await _site(core, user, site_id)
    manager = context.load_manager
    stations = _stations_of(await summaries(core), site)
    picture = None
    if manager is not None:
        with page_of(user):
            picture = await _picture(manager, site, stations)
    now = picture.draw.at if picture else datetime.now(UTC)
    values: dict[str, Any] = {
        "site": site,
        "stations": stations,
        "p": picture,
        "managing": manager is not None,
        "at": now,
        "until_text": lambda moment: until_text(moment, now),
        "shortfalls": SHORTFALLS,
    }
    if request.query_params.get("fragment") == "live":
        return render(request, "site_live.html", user, **values)
    default_until = (now + timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    return render(
        request,
        "site.html",
        user,
        **values,
        message=request.query_params.get("message"),
        failed=request.query_params.get("failed") == "1",
        default_until=default_until,
    )


@router.get("/data/sites/{site_id}")
async def site_data(
    site_id: str, core: CoreDep, context: Context, user: PageUser, minutes: float = TREND_MINUTES
) -> JSONResponse:
    """The totals now and the trend (draw, allocated, limit) the page's chart draws, in kW, times in epoch seconds."""
    site = await _site(core, user, site_id)
    manager = context.load_manager
    if manager is None:
        return JSONResponse({"site_id": site.id, "managed": False})
    with page_of(user):
        draw = await manager.draw(site_id=site.id)
    window = min(max(minutes, 1.0), MAX_TREND_MINUTES) if math.isfinite(minutes) else TREND_MINUTES
    samples = manager.history(site.id, draw.at - timedelta(minutes=window))

    def kw(watts: float | None) -> float | None:
        return None if watts is None or not math.isfinite(watts) else round(watts / 1000, 3) + 0.0

    return JSONResponse(
        {
            "site_id": site.id,
            "managed": True,
            "at": draw.at.isoformat(),
            "capacity_kw": kw(draw.capacity_w),
            "limit_kw": kw(draw.limit.watts),
            "limit_a": draw.limit.amps,
            "draw_kw": kw(draw.draw_w),
            "allocated_kw": kw(sum(s.allocation.watts for s in draw.sessions)),
            "sessions": len(draw.sessions),
            "trend": {
                "x": [s.at.timestamp() for s in samples],
                "draw_kw": [kw(s.draw_w) for s in samples],
                "allocated_kw": [kw(s.allocated_w) for s in samples],
                "limit_kw": [kw(s.limit_w) for s in samples],
            },
        }
    )


def _back(site_id: str, message: str, failed: bool = False) -> RedirectResponse:
    url = f"/sites/{quote(site_id)}?message={quote(message)}{'&failed=1' if failed else ''}#curtailment"
    return RedirectResponse(url, status_code=303)


@router.post("/sites/{site_id}/curtailment")
async def curtailment(
    request: Request, site_id: str, core: CoreDep, context: Context, user: PageUser
) -> RedirectResponse:
    """Set (or replace) or lift an emergency curtailment: the load manager stores, audits and applies it at once."""
    form = await read_form(request, user)
    need(user, Role.OPERATOR)
    site = await _site(core, user, site_id)
    manager = context.load_manager
    if manager is None:
        return _back(site_id, "load management is off in this process: nothing to curtail", failed=True)
    try:
        if form.get("action") == "lift":
            await manager.lift_curtailment(site_id=site.id, actor=user.username)
            return _back(site_id, "curtailment lifted: the site's own limits apply again")
        try:
            limit_kw = float(form.get("kw", ""))
        except ValueError:
            return _back(site_id, "give the curtailment's maximum in kW", failed=True)
        if not math.isfinite(limit_kw) or limit_kw < 0:
            return _back(site_id, "the curtailment's maximum must be 0 kW or more", failed=True)
        try:
            until = datetime.fromisoformat(form.get("until", ""))
        except ValueError:
            return _back(site_id, "give the curtailment's end as a date and time (UTC)", failed=True)
        until = until.replace(tzinfo=UTC) if until.tzinfo is None else until  # the console's times are UTC
        if until <= manager.now():
            return _back(site_id, "the curtailment's end must be in the future", failed=True)
        await manager.curtail(site_id=site.id, limit=Limit(watts=limit_kw * 1000), until=until, actor=user.username)
    except DomainError as exc:
        return _back(site_id, exc.message, failed=True)
    return _back(site_id, f"curtailed to {kw_text(limit_kw * 1000)} until {until:%Y-%m-%d %H:%M} UTC")
