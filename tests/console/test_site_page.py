"""The site page: a site's draw against its limits, each session's allocation and why, and the curtailment form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from evscada.console.sites import SHORTFALLS, SitePicture, until_text
from evscada.console.web import templates
from evscada.core.access.users import Role
from evscada.core.energy.allocation import Allocation, Reason
from evscada.core.energy.grid import Limit
from evscada.core.energy.planner import Shortfall
from evscada.core.energy.site_view import NodeDraw, SessionDraw, SessionPlan, SiteDraw
from evscada.core.model import SiteId, StationId, TransactionPk
from tests.conftest import start_csms, test_settings
from tests.console.conftest import add_users, logged_in, logged_in_page, screenshot
from tests.console.test_browser import remote_start
from tests.support import Csms, eventually

CAPACITY_W = 11_000.0
WORDS = {
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


async def depot(csms: Csms, name: str = "Depot Munich") -> SiteId:
    """The named site (made if missing) with an 11 kW grid connection."""
    core = csms.app.core
    site = next((s for s in await core.sites.list() if s.name == name), None)
    if site is None:
        site = await core.sites.create(name=name)
    await core.sites.update(site=replace(site, grid_capacity_w=CAPACITY_W))
    return site.id


async def draw(client: httpx.AsyncClient, site_id: int) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/sites/{site_id}/draw")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def fits(page: Any) -> bool:
    """Nothing makes the page wider than the window: wide tables scroll inside their card."""
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


async def test_a_running_session_shows_its_allocation_reason_and_draw_at_desktop_and_phone_sizes(
    fleet: Csms, browser: Any
) -> None:
    csms = fleet
    site_id = await depot(csms)  # SIM-201 is placed there
    tx = await remote_start(csms, "SIM-201")
    async with logged_in(csms, Role.VIEWER) as (client, _):

        async def measured() -> dict[str, Any] | None:
            body = await draw(client, site_id)
            mine = [s for s in body["sessions"] if s["transaction_pk"] == tx["pk"]]
            return mine[0] if mine and mine[0]["draw_kw"] else None

        session = await eventually(measured, timeout=15)
        assert session, "the load manager never allocated the session"
    words = WORDS[Reason(session["reason"])]

    for name, size in (("desktop", {"width": 1440, "height": 900}), ("phone", {"width": 390, "height": 844})):
        page = await logged_in_page(browser, csms, Role.VIEWER, mobile=name == "phone")
        await page.set_viewport_size(size)
        if name == "phone":
            await page.click("label.nav-button")  # the menu folds away on a phone
        await page.click('header nav a[href="/sites"]')
        await page.wait_for_url("**/sites")
        await page.click(f'#sites-table a[href="/sites/{site_id}"]')
        await page.wait_for_url(f"**/sites/{site_id}")

        row = page.locator(f'#site-sessions tr[data-transaction="{tx["pk"]}"]')
        assert await row.locator("td.reason").inner_text() == words
        assert re.fullmatch(r"\d+\.\d kW( .*)?", await row.locator("td.allocated").inner_text())
        assert re.fullmatch(r"\d+\.\d kW", await row.locator("td.measured").inner_text())
        assert await page.inner_text("#site-capacity") == "11.0 kW"
        assert await page.inner_text("#site-limit") == "11.0 kW"
        assert re.fullmatch(r"\d+\.\d kW", await page.inner_text("#site-draw"))
        assert await page.locator("#curtail-form").count() == 0  # a viewer reads only
        text = await page.inner_text("main")
        assert "-0.0" not in text and " W " not in text

        await page.wait_for_function("Number(document.getElementById('site').dataset.refreshes) >= 2")  # swapped
        assert await page.get_attribute("#site-trend", "data-state") in ("drawn", "empty")
        assert await page.locator(f'#site-sessions tr[data-transaction="{tx["pk"]}"]').count() == 1  # still, live
        assert await fits(page), f"the site page is wider than a {name} screen"
        await screenshot(page, f"site-{name}")
        await page.context.close()


@pytest.fixture
async def depot_csms(console_csms: Csms) -> AsyncIterator[tuple[Csms, SiteId]]:
    yield console_csms, await depot(console_csms)


async def test_an_operator_curtails_the_site_and_lifts_it(depot_csms: tuple[Csms, SiteId], browser: Any) -> None:
    csms, site_id = depot_csms
    page = await logged_in_page(browser, csms, Role.OPERATOR)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"/sites/{site_id}")
    assert "No curtailment" in await page.inner_text("#curtailment-in-force")

    await page.fill('#curtail-form input[name="kw"]', "4.5")
    await page.click("#curtail-form button")
    await page.wait_for_selector("#site-message")
    assert "curtailed to 4.5 kW" in await page.inner_text("#site-message")
    assert "Curtailed to 4.5 kW" in await page.inner_text("#curtailment-in-force")
    assert await page.inner_text("#site-limit") == "4.5 kW"
    async with logged_in(csms, Role.VIEWER) as (client, csrf):
        assert (await draw(client, site_id))["limit"]["max_kw"] == 4.5
        refused = await client.post(
            f"/sites/{site_id}/curtailment", data={"csrf": csrf, "action": "lift"}, follow_redirects=False
        )
        assert refused.status_code == 403  # a viewer may not, whatever the page showed

        await page.click("#lift-form button")
        await page.wait_for_url(re.compile(r".*lifted.*"))
        assert "No curtailment" in await page.inner_text("#curtailment-in-force")
        assert (await draw(client, site_id))["limit"]["max_kw"] == 11.0

        missing = await client.get("/sites/9999")
        assert missing.status_code == 404 and "no site 9999" in missing.text
        assert (await client.get("/sites/x")).status_code == 404
    await screenshot(page, "site-curtailment")


async def test_without_load_management_the_page_says_so_and_lists_the_stations(sqlite_url: str) -> None:
    settings = test_settings(sqlite_url, console={"tile_url": None}, load_management_interval_seconds=None)
    async for csms in start_csms(settings):
        await add_users(csms)
        site_id = await depot(csms)
        await csms.add_station("SIM-OFF")
        await csms.app.core.sites.place_station(
            station_id=StationId("SIM-OFF"), name="Off 1", site_id=site_id, latitude=None, longitude=None
        )
        async with logged_in(csms, Role.OPERATOR) as (client, csrf):
            page = await client.get(f"/sites/{site_id}")
            assert page.status_code == 200
            assert "Load management is off" in page.text and "Off 1" in page.text
            assert (await client.get(f"/data/sites/{site_id}")).json()["managed"] is False
            tried = await client.post(
                f"/sites/{site_id}/curtailment", data={"csrf": csrf, "kw": "5"}, follow_redirects=True
            )
            assert "nothing to curtail" in tried.text
            listed = await client.get("/sites")
            assert f'href="/sites/{site_id}"' in listed.text


def test_plans_lateness_feeders_and_ac_currents_read_in_words() -> None:
    """The live fragment from the manager's own types: what the simulated stations above do not report yet."""
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def session(pk: int, reason: Reason, plan: SessionPlan | None, amps: float | None) -> SessionDraw:
        allocation = Allocation(str(pk), StationId(f"AC-{pk}"), 7360.0 if amps else 0.0, amps, (1, 2, 3), reason)
        return SessionDraw(allocation, -0.01, 1, TransactionPk(pk), vehicle_name=f"Bus {pk}", soc_pct=41.6, plan=plan)

    late = SessionPlan(now + timedelta(hours=2, minutes=5), 90.0, 72.4, 18_250.0, Shortfall.SITE, 7000.0)
    on_time = SessionPlan(now + timedelta(minutes=40), 80.0, 80.0, 0.0, None, None)
    sessions = (
        session(1, Reason.DEPARTURE_PLAN, late, 10.6),
        session(2, Reason.PRIORITY, on_time, 10.6),
        session(3, Reason.PAUSED, None, None),
    )
    connection = NodeDraw("site-1", "Depot", None, Limit(watts=22_000.0), 14_720.0, 14_720.0, ())
    feeder = NodeDraw("feeder-1", "Feeder A", "site-1", Limit(amps=32.0), 7360.0, 7360.0, (StationId("AC-1"),))
    draw = SiteDraw(SiteId(1), now, 22_000.0, Limit(watts=22_000.0), -0.02, sessions, (), (connection, feeder))
    picture = SitePicture(draw, None, (), {"AC-1": "Bay 1"})
    html = templates.get_template("site_live.html").render(
        p=picture, until_text=lambda moment: until_text(moment, now), shortfalls=SHORTFALLS
    )
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))

    assert "-0.0" not in text and "0.0 kW" in text
    assert "late by 18.2 kWh" in text and "72 %" in text and "90 %" in text and "in 2 h 05 min" in text
    assert "late by 18.2 kWh not enough site capacity" in text  # and why
    assert "on time" in text and "in 40 min" in text
    assert "7.4 kW 10.6 A × 3" in text
    assert "departure plan" in text and "priority" in text and "paused: no capacity" in text
    assert "Bay 1" in text and "Feeder A" in text and "32.0 A per phase" in text and "no departure plan" in text
    assert 'class="node depth-1"' in html
