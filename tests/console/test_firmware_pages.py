"""The Firmware and Files pages in Chromium at desktop and phone size: images, campaigns with progress and each
station's state, an operator starting a campaign by its button; station files filtered, downloaded and deleted.
No script or console error, no failed request, no horizontal overflow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from evscada.core.access.users import Role
from evscada.core.control.commands import LogType
from evscada.core.firmware.model import CampaignPlan, TargetSelection
from evscada.core.model import StationId
from evscada.simulator.fleet import run_station
from evscada.simulator.station import SimulatedStation, StationSpec, cancel_quietly
from tests.conftest import start_csms, test_settings
from tests.console.conftest import QUIET, add_users, logged_in, logged_in_page, screenshot
from tests.console.test_access_browser import Watched
from tests.console.test_every_page import Trouble, visit
from tests.support import Csms, eventually

SCREENS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
IMAGE = b"EVSCADA-SIM-FIRMWARE 3.1.0\n" + b"\x00\x01" * 4096


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
async def firmware_csms(sqlite_url: str, tmp_path: Path) -> AsyncIterator[tuple[Csms, dict[str, SimulatedStation]]]:
    """Two simulated stations, an image, a completed campaign, a draft one, and a diagnostics log of each."""
    settings = test_settings(
        sqlite_url,
        console={"tile_url": None},
        files={"folder": str(tmp_path / "files")},
        firmware={"campaign_interval_seconds": 0.2},
    )
    async with contextlib.aclosing(start_csms(settings)) as running:  # type: ignore[type-var]  # a generator
        csms = await anext(running)
        await add_users(csms)
        core = csms.app.core
        stations = {}
        tasks = []
        for sid, version in (("SIM-16", "1.6"), ("SIM-201", "2.0.1")):
            await csms.add_station(sid)
            station = SimulatedStation(StationSpec(station_id=sid, version=version), None, QUIET)
            station.firmware.install_seconds = 0.01
            stations[sid] = station
            tasks.append(asyncio.create_task(run_station(csms.url(sid).rsplit("/", 1)[0], station)))
        try:

            async def booted() -> bool:
                return len(await csms.rows("connectors")) == 2 and all(
                    csms.app.gateway.registry.get(StationId(s)) for s in stations
                )

            assert await eventually(booted, timeout=15)
            image = await core.firmware.add_image(
                name="Controller", version="3.1.0", filename="ctl-3.1.0.bin", chunks=_chunks(IMAGE), actor="admin"
            )
            plan = CampaignPlan(
                name="Autumn rollout",
                image_id=image.id,
                selection=TargetSelection(station_ids=tuple(stations)),
                pilot_size=1,
                batch_size=5,
                window=None,
                max_failures=0,
                max_failure_percent=None,
            )
            done = await core.firmware_campaigns.create(plan=plan, actor="admin")
            await core.firmware_campaigns.start(done.id, actor="admin")

            async def completed() -> bool:
                return (await core.firmware_campaigns.campaign(done.id)).status == "completed"

            assert await eventually(completed, timeout=30)
            await core.firmware_campaigns.create(plan=plan, actor="admin")  # a draft, for the Start button
            for sid in stations:
                await core.files.request_log(station_id=StationId(sid), log_type=LogType.DIAGNOSTICS, actor="admin")

            async def files_in() -> bool:
                return (await core.files.files()).total == 2

            assert await eventually(files_in, timeout=15)
            yield csms, stations
        finally:
            for task in tasks:
                await cancel_quietly(task)


async def _page(browser: Any, csms: Csms, role: Role, screen: str) -> tuple[Any, Trouble]:
    page = await logged_in_page(browser, csms, role, mobile=screen == "phone")
    await page.set_viewport_size(SCREENS[screen])
    await page.goto("/firmware")
    await page.wait_for_load_state("networkidle")
    trouble = Watched()  # a poll cut short by the test's own next click is no fault
    trouble.watch(page)
    return page, trouble


@pytest.mark.parametrize("screen", ["desktop", "phone"])
async def test_the_firmware_and_files_pages_read_well_on_desktop_and_phone(
    firmware_csms: tuple[Csms, dict[str, SimulatedStation]], browser: Any, screen: str
) -> None:
    csms, _ = firmware_csms
    page, trouble = await _page(browser, csms, Role.OPERATOR, screen)
    try:
        campaigns = await csms.app.core.firmware_campaigns.campaigns()
        draft, done = campaigns[0], campaigns[1]
        problems = [
            *await visit(page, trouble, "/firmware"),
            *await visit(page, trouble, f"/firmware/campaigns/{done.id}"),
            *await visit(page, trouble, "/firmware/stations/SIM-201"),
            *await visit(page, trouble, "/files"),
            *await visit(page, trouble, "/files?station=SIM-16"),
        ]
        assert problems == []

        await page.goto("/firmware")
        row = page.locator(f'tr[data-campaign="{done.id}"]')
        assert "completed" in await row.inner_text()
        assert await row.locator(".meter .m-installed").count() == 1
        images = await page.locator("#images").inner_text()
        assert "Controller" in images and "3.1.0" in images and "8.0 KiB" in images

        await screenshot(page, f"firmware-{screen}")
        await page.goto(f"/firmware/campaigns/{done.id}")
        await screenshot(page, f"firmware-campaign-{screen}")
        stations = await page.locator("#stations").inner_text()
        assert stations.count("installed") == 2
        assert "3.1.0" in stations  # the version each station booted with afterwards
        assert "pilot" in stations

        await page.locator('#stations a[href="/firmware/stations/SIM-16"]').click()
        assert await page.locator("#running-version").inner_text() == "3.1.0"
        history = await page.locator("#station-updates").inner_text()
        for word in ("Downloading", "Downloaded", "Installing", "Installed"):
            assert word in history

        await page.goto(f"/firmware/campaigns/{draft.id}")
        await page.get_by_role("button", name="Start").click()
        await page.wait_for_url(f"**/firmware/campaigns/{draft.id}?message=*")
        assert "campaign started" in await page.locator(".flash").inner_text()

        await page.goto("/files?station=SIM-201")
        files = page.locator("#files tbody tr[data-file]")
        assert await files.count() == 1
        assert "SIM-201" in await files.inner_text()
        async with page.expect_download() as download_info:
            await files.locator("a[download]").click()
        download = await download_info.value
        saved = await asyncio.to_thread(Path(await download.path()).stat)
        assert saved.st_size == 8 * 1024  # the simulator's log size
        await files.get_by_role("button", name="Delete").click()
        await page.wait_for_url("**/files?station=SIM-201*message=*")
        assert "deleted" in await page.locator(".flash").inner_text()
        assert await page.locator("#files tbody tr[data-file]").count() == 0
        assert trouble.problems == []
    finally:
        await page.context.close()


async def test_viewers_see_firmware_but_cannot_act_and_bad_forms_say_why(
    firmware_csms: tuple[Csms, dict[str, SimulatedStation]],
) -> None:
    csms, _ = firmware_csms
    campaign = (await csms.app.core.firmware_campaigns.campaigns())[0]
    image = (await csms.app.core.firmware.images())[0]
    async with logged_in(csms, Role.VIEWER) as (client, csrf):
        page = await client.get("/firmware")
        assert page.status_code == 200
        assert "Autumn rollout" in page.text
        assert "New campaign" not in page.text and "Upload an image" not in page.text
        refused = await client.post(f"/firmware/campaigns/{campaign.id}/abort", data={"csrf": csrf})
        assert refused.status_code == 403
    async with logged_in(csms, Role.OPERATOR) as (client, csrf):
        form = {"csrf": csrf, "name": "x", "image_id": str(image.id), "window_start": "22:00"}
        answer = await client.post("/firmware/campaigns", data=form)
        assert answer.status_code == 303
        shown = await client.get(answer.headers["location"])
        assert "name the stations" in shown.text
        assert "a time of day as HH:MM" in shown.text
        used = await client.post(f"/firmware/images/{image.id}/delete", data={"csrf": csrf})
        shown = await client.get(used.headers["location"])
        assert "abort or finish the campaign first" in shown.text
        missing = await client.get("/firmware/campaigns/999")
        assert missing.status_code == 404
        nobody = await client.get("/firmware/stations/NOPE")
        assert nobody.status_code == 404
        assert "no station NOPE" in nobody.text
        bad_kind = await client.get("/files?kind=firmware")
        assert "kind is one of" in bad_kind.text
