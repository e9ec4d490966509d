"""The overview (mimic): the control room's first screen, every station as a symbol grouped by site.

One page for the fleet (`/overview`) and one per site (`/overview/{site_id}`, also reached through the page's site
selector). The page is rendered once on the server; overview.js then refetches `/data/overview` at most once a
second while live events arrive and changes only the symbols whose state, power or alarm changed. That JSON is kept
compact (arrays, short keys) because a fleet of 5,000 stations is fetched whole every second under load.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, Response

from evscada.api.deps import ApiContext, Context, CoreDep
from evscada.console.views import STATES, StationSummary, summaries
from evscada.console.web import PageNotFound, PageUser, page_of, render
from evscada.core.access.users import User
from evscada.core.alarms.service import AlarmFilter
from evscada.core.energy.site_manager import SiteLoadManager
from evscada.core.model import Alarm, AlarmState, Site, SiteId, StationId
from evscada.core.services import Core

router = APIRouter(include_in_schema=False)

STANDING_ALARMS_READ = 50_000  # more than a fleet's worth: the flashing and the counts must not miss any
STATE_CODES = {state: code for code, state in enumerate(STATES)}
UNASSIGNED = 0  # the group key of stations without a site (site ids start at 1)
SHARED_FOR_S = 1.0  # one picture a second serves every open overview: the pages refetch at most once a second


def kw_figure(watts: float | None) -> float | None:
    """W as kW with one decimal, as a JSON number; None for no reading (never NaN, which JSON cannot carry)."""
    if watts is None or not math.isfinite(watts):
        return None
    return round(watts / 1000, 1) + 0.0


@dataclass(frozen=True, slots=True)
class Symbol:
    """One station as the mimic draws it."""

    summary: StationSummary
    flashing: bool  # faulted, and an alarm of it nobody has acknowledged yet

    @property
    def station_id(self) -> StationId:
        return self.summary.station.id

    @property
    def kw(self) -> float | None:
        return kw_figure(self.summary.power_w)

    def row(self, group: int) -> list[Any]:
        """The compact JSON form: [id, group, state code, kW or null, 1 if flashing]."""
        return [self.station_id, group, STATE_CODES[self.summary.state], self.kw, int(self.flashing)]


@dataclass(frozen=True, slots=True)
class Group:
    """A site's symbols with its totals; `site` None for the stations without a site."""

    site: Site | None
    symbols: list[Symbol]
    draw_w: float | None  # the stations' live power now
    limit_w: float | None  # the limit in force at the grid connection (else the connection's capacity)
    active_alarms: int

    @property
    def key(self) -> int:
        return self.site.id if self.site is not None else UNASSIGNED

    @property
    def share(self) -> float:
        """How full the grid connection is, 0-100, for the bar."""
        if self.draw_w is None or not self.limit_w or self.limit_w <= 0:
            return 0.0
        return max(0.0, min(100.0, self.draw_w / self.limit_w * 100))

    @property
    def over(self) -> bool:
        return self.draw_w is not None and self.limit_w is not None and self.draw_w > self.limit_w * 1.001

    @property
    def alarms_url(self) -> str:
        """The alarms page filtered to this site's active alarms (the history tab holds the site filter)."""
        return f"/alarms?tab=history&site={self.key}&state=active" if self.site is not None else "/alarms"

    def row(self) -> list[Any]:
        """The compact JSON form: [group, kW drawn, kW limit, active alarms, 1 if over its limit]."""
        return [self.key, kw_figure(self.draw_w), kw_figure(self.limit_w), self.active_alarms, int(self.over)]


@dataclass(frozen=True, slots=True)
class Overview:
    groups: list[Group]

    def counts(self) -> dict[str, int]:
        found = Counter(s.summary.state for g in self.groups for s in g.symbols)
        return {state: found.get(state, 0) for state in STATES}

    def as_json(self) -> dict[str, Any]:
        return {
            "k": list(STATES),  # what the state codes mean
            "s": [symbol.row(g.key) for g in self.groups for symbol in g.symbols],
            "g": [g.row() for g in self.groups],
        }


def _unacknowledged(alarm: Alarm) -> bool:
    """Still waiting for an operator: not acknowledged, not put aside by a shelf or a maintenance period."""
    return alarm.acknowledged_at is None and alarm.shelved_until is None and not alarm.suppressed


def _measured(symbols: list[Symbol]) -> float | None:
    powers = [s.summary.power_w for s in symbols if s.summary.power_w is not None]
    return sum(powers) if powers else None


async def _site_totals(
    manager: SiteLoadManager | None, site: Site, symbols: list[Symbol]
) -> tuple[float | None, float | None]:
    """The site's stations' live power against the limit in force at its grid connection.

    Where the load manager manages the site, the limit is the one it applied last (it recomputes at least every
    interval and at once on a curtailment): read from its memory, so that a fleet's overview each second costs no
    query per site. Until its first recompute, its full picture (`draw`, as the site page shows). Without load
    management, the connection's capacity."""
    if manager is None or not manager.manages(site):
        return _measured(symbols), site.grid_capacity_w
    samples = manager.history(site.id)
    if samples:
        limit_w = samples[-1].limit_w
        return _measured(symbols), limit_w if limit_w is not None else site.grid_capacity_w
    draw = await manager.draw(site_id=site.id)
    return draw.draw_w, draw.limit.watts if draw.limit.watts is not None else draw.capacity_w


async def build_overview(core: Core, manager: SiteLoadManager | None, only: Site | None = None) -> Overview:
    """Every station (or one site's) with its state, power and alarm, grouped by site in name order."""
    items = await summaries(core)
    standing = await core.alarms.list(where=AlarmFilter(standing=True, limit=STANDING_ALARMS_READ))
    waiting = {a.station_id for a in standing if a.station_id is not None and _unacknowledged(a)}
    active_per_site = Counter(a.site_id for a in standing if a.state == AlarmState.ACTIVE)
    by_site: dict[int, list[Symbol]] = {}
    for item in sorted(items, key=lambda s: (s.title.lower(), s.station.id)):
        flashing = item.state == "faulted" and item.station.id in waiting
        by_site.setdefault(item.station.site_id or UNASSIGNED, []).append(Symbol(item, flashing))
    sites = [only] if only is not None else sorted(await core.sites.list(), key=lambda s: s.name.lower())
    groups = []
    for site in sites:
        symbols = by_site.get(site.id, [])
        draw_w, limit_w = await _site_totals(manager, site, symbols)
        groups.append(Group(site, symbols, draw_w, limit_w, active_per_site.get(site.id, 0)))
    if only is None and by_site.get(UNASSIGNED):
        symbols = by_site[UNASSIGNED]
        groups.append(Group(None, symbols, _measured(symbols), None, active_per_site.get(None, 0)))
    return Overview(groups)


async def _chosen_site(core: Core, user: User, site_id: str) -> Site:
    if not site_id.isdigit():
        raise PageNotFound(user, f"no site {site_id!r}: a site is chosen by its number, as in /overview/3")
    with page_of(user):
        return await core.sites.get(site_id=SiteId(int(site_id)))


async def _page(request: Request, core: Core, context: ApiContext, user: User, site: Site | None) -> HTMLResponse:
    overview = await build_overview(core, context.load_manager, site)
    return render(
        request,
        "overview.html",
        user,
        overview=overview,
        counts=overview.counts(),
        states=STATES,
        site=site,
        sites=sorted(await core.sites.list(), key=lambda s: s.name.lower()),
        data_url="/data/overview" + (f"?site={site.id}" if site is not None else ""),
    )


@router.get("/overview", response_class=HTMLResponse)
async def fleet_overview(request: Request, core: CoreDep, context: Context, user: PageUser) -> HTMLResponse:
    return await _page(request, core, context, user, None)


@router.get("/overview/{site_id}", response_class=HTMLResponse)
async def site_overview(
    request: Request, site_id: str, core: CoreDep, context: Context, user: PageUser
) -> HTMLResponse:
    return await _page(request, core, context, user, await _chosen_site(core, user, site_id))


class SharedPictures:
    """The overview's JSON built at most once a second (per site chosen) for every browser that asks.

    Building it reads every station, the live readings, the standing alarms and each site's draw: most of a second
    of the server's time at 5,000 stations. A control room with several screens open would otherwise pay that once
    per screen every second. Builds take turns, so a burst of requests waits for one build instead of starting many.
    """

    def __init__(self) -> None:
        self._built: dict[str, tuple[float, bytes]] = {}
        self._turn = asyncio.Lock()

    async def get(self, key: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
        async with self._turn:
            begun = time.monotonic()
            found = self._built.get(key)
            if found is not None and begun - found[0] < SHARED_FOR_S:
                return found[1]
            body = await build()
            self._built[key] = (begun, body)  # as old as the moment its reading began
            return body


def _shared(request: Request) -> SharedPictures:
    pictures: SharedPictures | None = getattr(request.app.state, "overview_pictures", None)
    if pictures is None:
        pictures = request.app.state.overview_pictures = SharedPictures()
    return pictures


@router.get("/data/overview")
async def overview_data(request: Request, core: CoreDep, context: Context, user: PageUser, site: str = "") -> Response:
    """The symbols' state, power and flashing and the sites' totals now, in the compact form overview.js reads."""
    try:
        only = await _chosen_site(core, user, site) if site else None
    except PageNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, exc.message) from None

    async def build() -> bytes:
        return orjson.dumps((await build_overview(core, context.load_manager, only)).as_json())

    body = await _shared(request).get(str(only.id) if only else "", build)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})
