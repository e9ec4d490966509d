"""The map in a real browser with the internet out of reach: a base map shipped with the console, clusters that
open on a click, and a site filter that takes the map to the site."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from evscada.core.access.users import Role
from evscada.core.model import SiteId, StationId
from tests.conftest import start_csms
from tests.console.conftest import add_users, console_settings, logged_in_page, screenshot
from tests.support import Csms

BERLIN = (52.52, 13.40)
# Three chargers a few dozen metres apart at a depot: one cluster when the map shows both cities.
MUNICH = {"DEPOT-1": (48.1400, 11.5800), "DEPOT-2": (48.1403, 11.5804), "DEPOT-3": (48.1398, 11.5807)}
UNREACHABLE_TILES = "https://tiles.example.com/{z}/{x}/{y}.png"


async def place_fleet(csms: Csms) -> None:
    """A depot in Munich with three stations, a yard in Berlin with one; the stations never connect."""
    core = csms.app.core
    await add_users(csms)
    depot = await core.sites.create(name="Depot Munich", latitude=48.14, longitude=11.58)
    yard = await core.sites.create(name="Yard Berlin", latitude=BERLIN[0], longitude=BERLIN[1])
    for sid, (lat, lon) in MUNICH.items():
        await csms.add_station(sid)
        await core.sites.place_station(
            station_id=StationId(sid), name=sid, site_id=SiteId(depot.id), latitude=lat, longitude=lon
        )
    await csms.add_station("YARD-1")
    await core.sites.place_station(
        station_id=StationId("YARD-1"), name="Yard 1", site_id=SiteId(yard.id), latitude=None, longitude=None
    )


@pytest.fixture
async def offline_map(sqlite_url: str) -> AsyncIterator[Csms]:
    """No tile server configured: the network without internet the console must still work in."""
    async for csms in start_csms(console_settings(sqlite_url)):
        await place_fleet(csms)
        yield csms


@pytest.fixture
async def unreachable_tiles(sqlite_url: str) -> AsyncIterator[Csms]:
    """A tile server configured that the browser cannot reach."""
    async for csms in start_csms(console_settings(sqlite_url, tile_url=UNREACHABLE_TILES)):
        await place_fleet(csms)
        yield csms


class Watched:
    """The map page with every request to another host blocked, and what went wrong recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.blocked: list[str] = []

    @classmethod
    async def open(cls, browser: Any, csms: Csms, *, mobile: bool) -> Watched:
        login = await logged_in_page(browser, csms, Role.VIEWER, mobile=mobile)
        page = await login.context.new_page()  # watched from its first request, with the log-in page left alone
        watched = cls(page)

        async def local_only(route: Any) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                await route.continue_()
            else:
                watched.blocked.append(route.request.url)
                await route.abort("internetdisconnected")

        await page.context.route("**/*", local_only)
        page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: watched.errors.append(str(error)))
        page.on("requestfailed", lambda request: watched.failed.append(request.url))
        await page.goto("/map")
        await page.wait_for_selector('#map[data-basemap="outlines"]')
        return watched

    async def settles_on(self, *places: tuple[float, float], off: tuple[float, float] | None = None) -> None:
        """Wait until the map shows these places (and not `off`): it moves there by itself, animated."""
        await self.page.wait_for_function(
            "([places, off]) => { const b = evscadaMap.map.getBounds();"
            " return places.every(p => b.contains(p)) && !(off && b.contains(off)); }",
            arg=[[list(p) for p in places], list(off) if off else None],
        )

    async def zoom(self) -> float:
        return float(await self.page.evaluate("evscadaMap.map.getZoom()"))

    async def shows(self, *places: tuple[float, float]) -> bool:
        return bool(
            await self.page.evaluate(
                "places => places.every(p => evscadaMap.map.getBounds().contains(p))", [list(p) for p in places]
            )
        )


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
async def test_without_tiles_the_map_draws_outlines_zooms_into_clusters_and_goes_to_a_chosen_site(
    offline_map: Csms, browser: Any, mobile: bool
) -> None:
    watched = await Watched.open(browser, offline_map, mobile=mobile)
    page = watched.page
    outlines = await page.locator(".leaflet-outlines-pane svg path").count()
    assert outlines > 100, f"only {outlines} outline paths: the base map did not draw"
    assert "Yard Berlin" in await page.inner_text(".leaflet-tooltip.site-label >> nth=1")
    assert await watched.shows(BERLIN, *MUNICH.values())
    await screenshot(page, "map-offline-phone" if mobile else "map-offline")

    start = await watched.zoom()

    await page.select_option("#site-filter", label="Yard Berlin")
    await watched.settles_on(BERLIN, off=MUNICH["DEPOT-1"])
    assert await watched.zoom() > start  # close in on the yard, not the whole country
    await page.select_option("#site-filter", label="Depot Munich")
    await watched.settles_on(*MUNICH.values(), off=BERLIN)
    await page.select_option("#site-filter", label="all sites")
    await watched.settles_on(BERLIN, *MUNICH.values())

    # The depot's three stations are one cluster again once the markers have settled after the moves.
    await page.wait_for_function("document.querySelectorAll('.cluster').length === 1")
    await page.click(".cluster")
    await page.wait_for_function(f"evscadaMap.map.getZoom() > {start}")
    await watched.settles_on(*MUNICH.values(), off=BERLIN)
    for sid in MUNICH:  # zoomed in far enough that the cluster opened into its stations
        await page.wait_for_selector(f'.station-marker [data-station="{sid}"]')
    await page.wait_for_function("document.querySelectorAll('.cluster').length === 0")

    assert watched.errors == [] and watched.failed == [] and watched.blocked == []


async def test_when_the_tile_server_is_out_of_reach_the_map_falls_back_to_the_outlines(
    unreachable_tiles: Csms, browser: Any
) -> None:
    watched = await Watched.open(browser, unreachable_tiles, mobile=False)
    assert await watched.page.locator(".leaflet-outlines-pane svg path").count() > 100
    assert await watched.page.locator(".leaflet-tooltip.site-label").count() == 2
    assert watched.blocked and all(url.startswith("https://tiles.example.com/") for url in watched.blocked)
    # The only failures are the tiles that could not be had; nothing of the console's own went missing.
    assert [url for url in watched.failed if url not in watched.blocked] == []
    assert [e for e in watched.errors if "ERR_INTERNET_DISCONNECTED" not in e] == []
