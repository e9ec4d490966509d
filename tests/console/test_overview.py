"""The overview (mimic) in a real browser: the screen a log-in lands on, a symbol per station grouped by site that
follows the stations live, a fault that flashes until acknowledged, and the page's one coalesced refresh."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from ocpp.v16 import call

from evscada.core.access.users import Role
from evscada.core.alarms.service import AlarmFilter
from evscada.core.model import AlarmState, SiteId, StationId
from tests.console.conftest import PASSWORD, base_url, http, screenshot
from tests.console.test_browser import remote_start
from tests.console.test_every_page import Trouble
from tests.support import Csms, station16

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


async def log_in_from_the_start(browser: Any, csms: Csms, viewport: dict[str, int]) -> tuple[Any, Trouble]:
    """Open the console's address as an operator would: the log-in page, then wherever the console sends them."""
    context = await browser.new_context(base_url=base_url(csms), viewport=viewport)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    trouble = Trouble()
    trouble.watch(page)
    await page.goto("/")
    assert "/login" in page.url
    await page.fill('input[name="username"]', str(Role.OPERATOR))
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await page.wait_for_url("**/overview")
    return page, trouble


async def settled(page: Any) -> None:
    """Let the page's first fetches (the header's alarm badge and banner) finish: leaving cuts them short."""
    await page.wait_for_load_state("load")
    await page.wait_for_timeout(700)


async def looks(page: Any, selector: str, style: str, pseudo: str = "") -> set[str]:
    """The values a symbol's computed style takes over 1.3 s: one when it is still, more when it moves or flashes."""
    seen = await page.eval_on_selector(
        selector,
        """async (e, [style, pseudo]) => {
            const seen = new Set();
            for (let i = 0; i < 13; i++) {
                seen.add(getComputedStyle(e, pseudo || null).getPropertyValue(style));
                await new Promise((r) => setTimeout(r, 100));
            }
            return [...seen];
        }""",
        [style, pseudo],
    )
    return set(seen)


def symbol(sid: str) -> str:
    return f'.ov-st[data-id="{sid}"]'


async def state_of(page: Any, sid: str) -> str:
    return str(await page.get_attribute(symbol(sid), "data-state"))


async def fits(page: Any) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


async def put_at_site(csms: Csms, sid: str, site_name: str) -> None:
    (site,) = [s for s in await csms.app.core.sites.list() if s.name == site_name]
    await csms.add_station(sid)
    await csms.app.core.sites.place_station(
        station_id=StationId(sid), name=sid, site_id=SiteId(site.id), latitude=None, longitude=None
    )


async def test_a_log_in_lands_on_the_overview_and_a_symbol_follows_its_station_live(fleet: Csms, browser: Any) -> None:
    csms = fleet
    (depot_site,) = await csms.app.core.sites.list()
    await csms.app.core.sites.update(site=replace(depot_site, grid_capacity_w=100_000))  # load-managed from now
    page, trouble = await log_in_from_the_start(browser, csms, DESKTOP)
    assert await page.inner_text("header nav a >> nth=0") == "Overview"
    assert await page.get_attribute("header .brand", "href") == "/overview"

    # Grouped by site: the depot's station under its name, the station without a site under "Unassigned".
    depot = page.locator(".ov-site", has_text="Depot Munich")
    assert await depot.locator(".ov-st").count() == 1 and await depot.locator(symbol("SIM-201")).count() == 1
    assert await page.locator(".ov-site", has=page.locator(symbol("SIM-16"))).locator(".ov-name").inner_text() == (
        "Unassigned"
    )
    assert await state_of(page, "SIM-201") == "available"
    assert await page.inner_text('[data-count="available"]') == "2"

    await page.evaluate("window.notReloaded = true")
    await remote_start(csms, "SIM-201")
    await page.wait_for_selector(f'{symbol("SIM-201")}[data-state="charging"]')
    colour = await page.eval_on_selector(symbol("SIM-201"), "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(31, 111, 209)"  # charging blue
    assert len(await looks(page, symbol("SIM-201"), "transform", "::after")) >= 2  # its charging bar moves
    # Its live power on the symbol and the site's total against its grid connection.
    await page.wait_for_function(
        f"""() => /^[1-9][0-9]*\\.[0-9] kW$/.test(document.querySelector('{symbol("SIM-201")} .ov-kw').textContent)"""
    )
    await page.wait_for_function(
        "() => parseFloat(document.querySelector('.ov-site:has([data-id=\"SIM-201\"]) [data-draw]').textContent) > 0"
    )
    assert (await depot.locator(".ov-total").inner_text()).strip().endswith(" kW of 100.0 kW")  # the grid connection
    unassigned = page.locator(".ov-site", has=page.locator(symbol("SIM-16")))
    assert (await unassigned.locator(".ov-total").inner_text()).strip() == "— kW of no limit set"
    assert await depot.locator(".ov-total .meter").is_visible()
    assert not await unassigned.locator(".ov-total .meter").is_visible()  # no limit: no bar to fill
    assert await page.inner_text('[data-count="charging"]') == "1"
    assert await page.evaluate("window.notReloaded") is True  # updated in place, not by reloading the page
    await screenshot(page, "overview")
    assert await fits(page)
    assert trouble.problems == []

    # A click on a symbol opens its station.
    await page.click(symbol("SIM-201"))
    await page.wait_for_url("**/stations/SIM-201")
    await page.context.close()


async def test_a_fault_flashes_until_acknowledged_and_a_lost_station_turns_offline(fleet: Csms, browser: Any) -> None:
    csms = fleet
    await put_at_site(csms, "RAW-16", "Depot Munich")
    key = await csms.app.core.access.create_api_key(username=str(Role.OPERATOR), name="overview test")
    page, trouble = await log_in_from_the_start(browser, csms, DESKTOP)
    depot = page.locator(".ov-site", has_text="Depot Munich")
    assert await state_of(page, "RAW-16") == "offline"  # registered, never connected

    async with station16(csms, "RAW-16") as raw:
        await raw.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        await raw.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await page.wait_for_selector(f'{symbol("RAW-16")}[data-state="available"]')

        await raw.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        await page.wait_for_selector(f'{symbol("RAW-16")}[data-state="faulted"].flash')
        assert len(await looks(page, symbol("RAW-16"), "box-shadow")) == 2  # flashing: two looks in turn
        await page.wait_for_function(
            "document.querySelector('.ov-site:has([data-id=\"RAW-16\"]) [data-alarms]').textContent === '1'"
        )
        link = await depot.locator(".ov-alarms").get_attribute("href")
        assert link is not None and "site=" in link and "state=active" in link
        await screenshot(page, "overview-fault")

        (alarm,) = await csms.app.core.alarms.list(
            where=AlarmFilter(station_id=StationId("RAW-16"), state=AlarmState.ACTIVE)
        )
        async with http(csms) as client:
            answer = await client.post(
                f"/api/v1/alarms/{alarm.id}/acknowledge", headers={"Authorization": f"Bearer {key}"}, json={}
            )
            assert answer.status_code == 200, answer.text
        # Seen: it stops flashing but stays red while the fault holds.
        await page.wait_for_selector(f'{symbol("RAW-16")}[data-state="faulted"]:not(.flash)')
        assert await looks(page, symbol("RAW-16"), "box-shadow") == {"none"}  # steady
        assert trouble.problems == []

    # The socket closed: the station is offline.
    await page.wait_for_selector(f'{symbol("RAW-16")}[data-state="offline"]')
    colour = await page.eval_on_selector(symbol("RAW-16"), "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(122, 122, 122)"  # offline grey
    assert trouble.problems == []
    await page.context.close()


async def test_a_stream_of_events_makes_one_fetch_a_second_at_most(fleet: Csms, browser: Any) -> None:
    """A charging station's meter values, five times a second, must not become five fetches a second."""
    csms = fleet
    page, trouble = await log_in_from_the_start(browser, csms, DESKTOP)
    await remote_start(csms, "SIM-201")
    await page.wait_for_selector(f'{symbol("SIM-201")}[data-state="charging"]')
    before = await page.evaluate("({...evscadaOverview.stats})")
    await asyncio.sleep(4)
    after = await page.evaluate("({...evscadaOverview.stats})")
    events, fetches = after["events"] - before["events"], after["fetches"] - before["fetches"]
    assert events >= 12, f"only {events} live events in 4 s: the stations' meter values did not arrive"
    assert 2 <= fetches <= 5, f"{fetches} fetches of /data/overview in 4 s for {events} events"
    assert trouble.problems == []

    # An operator who asked their system for less motion: the charging bar stands still (and shows whole).
    assert len(await looks(page, symbol("SIM-201"), "transform", "::after")) >= 2
    await page.emulate_media(reduced_motion="reduce")
    assert await looks(page, symbol("SIM-201"), "transform", "::after") == {"none"}
    await page.context.close()


async def test_the_site_overview_on_a_phone_and_its_links(fleet: Csms, browser: Any) -> None:
    csms = fleet
    page, trouble = await log_in_from_the_start(browser, csms, PHONE)
    assert await fits(page)
    await screenshot(page, "overview-phone")

    # The site's name leads to its own overview: its stations only, its header then leads to the site page.
    await page.click(".ov-site .ov-name >> text=Depot Munich")
    await page.wait_for_url("**/overview/*")
    site_id = page.url.rsplit("/", 1)[1]
    assert await page.locator(".ov-st").count() == 1 and await page.locator(symbol("SIM-201")).count() == 1
    assert await page.input_value("#ov-site") == site_id
    assert await fits(page)
    await settled(page)
    await page.select_option("#ov-site", "")  # the selector goes back to the whole fleet
    await page.wait_for_url("**/overview")
    assert await page.locator(".ov-st").count() == 2
    await settled(page)
    await page.select_option("#ov-site", site_id)
    await page.wait_for_url(f"**/overview/{site_id}")
    await settled(page)
    assert trouble.problems == []
    await page.click(".ov-site .ov-name")
    await page.wait_for_url(f"**/sites/{site_id}")
    await page.context.close()


async def test_an_unknown_site_is_a_clear_not_found(fleet: Csms) -> None:
    async with http(fleet) as client:
        await client.post("/login", data={"username": "viewer", "password": PASSWORD})
        page = await client.get("/overview/999")
        assert page.status_code == 404 and "no site" in page.text
        assert (await client.get("/overview/north")).status_code == 404
        data = await client.get("/data/overview?site=north")
        assert data.status_code == 404 and "chosen by its number" in data.json()["detail"]
        whole = (await client.get("/data/overview")).json()
        assert sorted(row[0] for row in whole["s"]) == ["SIM-16", "SIM-201"] and whole["k"][-1] == "available"
        assert (await client.get("/", follow_redirects=False)).headers["location"] == "/overview"
