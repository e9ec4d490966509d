"""The console under test: a CSMS with users, placed simulated stations, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evscada.core.access.users import Role
from evscada.core.model import SiteId, StationId
from evscada.simulator.fleet import run_station
from evscada.simulator.station import StationSpec, Timing, cancel_quietly
from tests.conftest import start_csms, test_settings
from tests.support import Csms, eventually

CHROMIUM = os.environ.get("EVSCADA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery"

# Nothing starts by itself; remote-started sessions report meter values five times a second until stopped.
QUIET = Timing(meter_interval=0.2, idle_seconds=(1e6, 1e6), session_seconds=(600, 600), reboot_seconds=0.0)

# Far apart, so that the map shows each station as its own marker instead of a cluster.
PLACES = {"SIM-16": (52.52, 13.40), "SIM-201": (48.14, 11.58)}


def console_settings(database_url: str, **overrides: object) -> Any:
    # No tiles in tests: the markers must show on a plain background without internet.
    return test_settings(database_url, console={"tile_url": None, **overrides})


async def add_users(csms: Csms) -> None:
    for role in Role:
        await csms.app.core.access.add_user(username=str(role), role=role, password=PASSWORD)


@pytest.fixture
async def console_csms(sqlite_url: str) -> AsyncIterator[Csms]:
    """A running CSMS with a viewer, an operator and an admin (each named after their role)."""
    async for csms in start_csms(console_settings(sqlite_url)):
        await add_users(csms)
        yield csms


@pytest.fixture
async def fleet(console_csms: Csms) -> AsyncIterator[Csms]:
    """Simulated stations of both versions on the map (one at its site's place), tokens to charge with."""
    csms = console_csms
    core = csms.app.core
    site = await core.sites.create(name="Depot Munich", latitude=PLACES["SIM-201"][0], longitude=PLACES["SIM-201"][1])
    await csms.add_token("CARD-1")
    bus = await core.vehicles.create(name="Bus 7", fleet_number="7", battery_capacity_wh=300_000)
    await core.vehicles.link_token(token_value="CARD-1", vehicle_id=bus.id)
    tasks = []
    for sid, version in (("SIM-16", "1.6"), ("SIM-201", "2.0.1")):
        await csms.add_station(sid)
        if sid == "SIM-16":
            lat, lon = PLACES[sid]
            await core.sites.place_station(
                station_id=StationId(sid), name="Berlin 1", site_id=None, latitude=lat, longitude=lon
            )
        else:  # no location of its own: shows at its site's
            await core.sites.place_station(
                station_id=StationId(sid), name="Munich 1", site_id=SiteId(site.id), latitude=None, longitude=None
            )
        spec = StationSpec(station_id=sid, version=version, connectors=2)
        tasks.append(asyncio.create_task(run_station(csms.url(sid).rsplit("/", 1)[0], spec, QUIET)))

    async def booted() -> bool:
        rows = await csms.rows("connectors")
        return len([r for r in rows if r["status"] == "Available"]) >= 4

    try:
        assert await eventually(booted, timeout=15), "the simulated stations never booted"
        yield csms
    finally:
        for task in tasks:
            await cancel_quietly(task)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright; the test skips without it, unless CI requires it."""
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240  # once per test, before any I/O
        if os.environ.get("EVSCADA_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"no Chromium at {CHROMIUM}, but CI requires the browser tests")
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (make test does)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


def base_url(csms: Csms) -> str:
    assert csms.app.http is not None
    return f"http://127.0.0.1:{csms.app.http.port}"


async def logged_in_page(browser: Any, csms: Csms, role: Role, *, mobile: bool = False) -> Any:
    """A fresh browser context logged in through the log-in form."""
    viewport = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900}
    context = await browser.new_context(base_url=base_url(csms), viewport=viewport, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    # A script error fails the test where it happens, with the browser's message.
    page.on("pageerror", lambda error: print(f"browser error on {page.url}: {error}"))
    page.on("console", lambda message: print(f"browser console: {message.text}") if message.type == "error" else None)
    await page.goto("/map")
    assert "/login" in page.url
    await page.fill('input[name="username"]', str(role))
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await page.wait_for_url("**/map")
    return page


async def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@contextlib.asynccontextmanager
async def http(csms: Csms) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(csms), timeout=10) as client:
        yield client


@contextlib.asynccontextmanager
async def logged_in(csms: Csms, role: Role) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client with a session of this role, and the session's CSRF token for forms."""
    async with http(csms) as client:
        answer = await client.post("/login", data={"username": str(role), "password": PASSWORD})
        assert answer.status_code == 303
        page = await client.get("/alarms")
        found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
        assert found
        yield client, found.group(1)
