"""Access management in Chromium with a real fleet's numbers: 10,000 tokens and 1,000 vehicles. The tokens page shows
one page of them, a search finds one, paging moves, a token is linked to a vehicle by typing its fleet number; an API
key is made and revoked and the REST API honours both; the logs and on-call read on a desktop and a phone."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from evscada.core.access.users import Role
from tests.conftest import start_csms
from tests.console.conftest import add_users, base_url, logged_in_page, screenshot
from tests.console.test_access_pages import access_settings
from tests.console.test_access_store import add_many
from tests.console.test_every_page import Trouble
from tests.support import Csms


class Watched(Trouble):
    """As every page is watched, except that a request cut short because the test moved on to the next page (the
    alarm banner's poll, a suggestion) is no fault: those pages are exercised by clicks, not left to settle."""

    def _failed(self, request: Any) -> None:
        if "ERR_ABORTED" not in (request.failure or ""):
            super()._failed(request)


SCREENS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
async def big_fleet(sqlite_url: str) -> AsyncIterator[Csms]:
    async for csms in start_csms(access_settings(sqlite_url)):
        await add_users(csms)
        await add_many(csms, tokens=10_000, vehicles=1_000)
        yield csms


@pytest.fixture
async def page_of(browser: Any, big_fleet: Csms) -> AsyncIterator[Any]:
    """Opens a logged-in page at a screen size; watches it for script errors, console errors and failed requests."""
    opened: list[Any] = []

    async def open_page(role: Role, screen: str) -> tuple[Any, Watched]:
        page = await logged_in_page(browser, big_fleet, role, mobile=screen == "phone")
        await page.set_viewport_size(SCREENS[screen])
        await page.goto("/access")  # off the map first: leaving it cuts its own requests, which is no fault here
        await page.wait_for_load_state("networkidle")
        trouble = Watched()
        trouble.watch(page)
        opened.append(page)
        return page, trouble

    yield open_page
    for page in opened:
        await page.context.close()


async def fits(page: Any) -> None:
    width, screen = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= screen, f"{page.url} is {width} px wide on a {screen} px screen"


@pytest.mark.parametrize("screen", ["desktop", "phone"])
async def test_ten_thousand_tokens_page_search_and_link_by_fleet_number(
    page_of: Any, big_fleet: Csms, screen: str
) -> None:
    page, trouble = await page_of(Role.OPERATOR, screen)
    await page.goto("/access/tokens")
    assert await page.locator("#tokens tbody tr[data-token]").count() == 50
    await page.get_by_text("1–50 of 10,000 tokens").first.wait_for()
    await fits(page)

    await page.locator('a[rel="next"]').first.click()
    await page.wait_for_url("**/access/tokens?offset=50")
    assert await page.locator("#tokens tbody tr[data-token]").first.get_attribute("data-token") == "TAG-00051"
    await page.locator('a[rel="last"]').first.click()
    await page.get_by_text("9,951–10,000 of 10,000 tokens").first.wait_for()

    await page.fill('form.search input[name="q"]', "TAG-04242")
    await page.click("form.search button")
    await page.wait_for_url("**q=TAG-04242**")
    assert await page.locator("#tokens tbody tr[data-token]").count() == 1
    field = page.locator('tr[data-token="TAG-04242"] input[name="vehicle"]')
    await field.fill("")
    await field.press_sequentially("Bus 077", delay=30)  # suggestions follow the typing
    suggestions = page.locator("#vehicle-options option")
    await page.wait_for_function("document.querySelectorAll('#vehicle-options option').length === 10")
    assert await suggestions.first.get_attribute("value") == "Bus 0770"
    await field.fill("777")  # the fleet number: resolved on the server
    await page.wait_for_function("document.querySelectorAll('#vehicle-options option').length === 1")
    assert await suggestions.first.get_attribute("value") == "Bus 0777"
    await page.locator('tr[data-token="TAG-04242"] button', has_text="link").click()
    await page.get_by_text("token TAG-04242 linked to Bus 0777").wait_for()
    assert "q=TAG-04242" in page.url  # back on the same search
    assert await field.input_value() == "Bus 0777"
    (bus,) = await big_fleet.rows("vehicles", name="Bus 0777")
    assert (await big_fleet.rows("tokens", value="TAG-04242"))[0]["vehicle_id"] == bus["id"]
    await fits(page)
    await screenshot(page, f"access-tokens-{screen}")
    assert not trouble.problems, trouble.problems


@pytest.mark.parametrize("screen", ["desktop", "phone"])
async def test_an_admin_makes_and_revokes_an_api_key_and_reads_the_logs(
    page_of: Any, big_fleet: Csms, screen: str
) -> None:
    page, trouble = await page_of(Role.ADMIN, screen)
    await page.goto("/access")
    await page.click('.access-tabs a:has-text("API keys")')
    await page.select_option('select[name="user"]', "operator")
    await page.click('button:has-text("Show keys")')
    await page.fill('input[name="name"]', f"billing-{screen}")
    await page.click('button:has-text("Make key")')
    key = (await page.locator("#new-key").inner_text()).strip()
    await page.get_by_text("it is shown this once").wait_for()
    await fits(page)
    await screenshot(page, f"access-key-{screen}")
    async with httpx.AsyncClient(base_url=base_url(big_fleet), timeout=10) as api:
        bearer = {"Authorization": f"Bearer {key}"}
        answer = await api.get("/api/v1/tokens", params={"q": "TAG-0001", "limit": 3}, headers=bearer)
        assert answer.status_code == 200 and answer.headers["x-total-count"] == "10"
        await page.goto("/access/keys?user=operator")
        assert key not in await page.content()  # shown once only
        row = page.locator("#key-list tr", has_text=f"billing-{screen}")
        await row.locator('button:has-text("revoke")').click()
        await page.get_by_text(re.compile(rf"key billing-{screen} .* revoked")).wait_for()
        assert (await api.get("/api/v1/tokens", headers=bearer)).status_code == 401

    await page.click('.access-tabs a:has-text("Audit log")')
    await page.wait_for_url("**/access/audit")
    first = page.locator("#audit-log tbody tr").first  # newest first: the revocation just made
    assert "api_key.revoke" in await first.inner_text() and "admin" in await first.inner_text()
    await fits(page)
    await page.click('.access-tabs a:has-text("Notifications")')
    await page.locator("#on-call-person").wait_for()
    assert (await page.locator("#on-call-person").inner_text()) in ("alice", "bob")
    await page.get_by_text("The duty passes to").wait_for()
    await fits(page)
    await screenshot(page, f"access-notifications-{screen}")
    await page.click('.access-tabs a:has-text("Vehicles")')
    await page.wait_for_url("**/access/vehicles")
    assert await page.locator("#vehicles tbody tr").count() == 50  # a page of the thousand
    await fits(page)
    for tab, path in (("Overview", "/access"), ("Users", "/access/users")):
        await page.click(f'.access-tabs a:has-text("{tab}")')
        await page.wait_for_url(f"**{path}")
        await page.locator("#users").wait_for()
        await fits(page)
    assert not trouble.problems, trouble.problems
