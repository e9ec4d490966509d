"""The Reports page: the list, a report made now by an operator, its preview and downloads, at desktop and phone
widths without sideways scrolling or console errors; viewers read but cannot make reports."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from evscada.core.access.users import Role
from tests.conftest import start_csms, test_settings
from tests.console.conftest import add_users, logged_in, logged_in_page, screenshot
from tests.console.test_trends import no_overflow
from tests.storage.test_kpi_reports import build_history
from tests.support import Csms


@pytest.fixture
async def reporting_console(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Csms]:
    settings = test_settings(
        sqlite_url,
        console={"tile_url": None},
        operator_timezone="Europe/Berlin",
        files={"folder": str(tmp_path / "files")},
    )
    async for csms in start_csms(settings):
        await add_users(csms)
        await build_history(csms.app.database, "ui")
        yield csms


def errors_of(page: Any) -> list[str]:
    found: list[str] = []
    page.on("pageerror", lambda error: found.append(str(error)))
    page.on("console", lambda message: found.append(message.text) if message.type == "error" else None)
    return found


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
async def test_operator_makes_previews_and_downloads_a_report(
    reporting_console: Csms, browser: Any, mobile: bool
) -> None:
    page = await logged_in_page(browser, reporting_console, Role.OPERATOR, mobile=mobile)
    await page.set_viewport_size({"width": 390, "height": 844} if mobile else {"width": 1440, "height": 900})
    errors = errors_of(page)
    await page.goto("/reports")
    assert await page.locator("#report-list td.empty").inner_text() == "no reports yet: make one below"
    await page.select_option('select[name="kind"]', "weekly")
    await page.fill('input[name="day"]', "2026-03-25")
    await page.click("#make-report button")
    await page.wait_for_url("**/reports/*")
    assert await page.locator("h1").inner_text() == "KPI report week 2026-W13 — fleet"
    summary = await page.locator("#summary li").all_inner_texts()
    assert summary[0].startswith("51.5 kWh delivered in 6 sessions")
    assert "3 sessions failed (60.0 %)" in summary[1]
    sunday = page.locator("#busiest-hours tbody tr").nth(6)
    cells = await sunday.locator("td").all_inner_texts()
    assert cells[3] == "20"  # 03:00 CEST on Sunday 29 March: 20 kWh
    await no_overflow(page)
    await screenshot(page, f"reports-detail-{'phone' if mobile else 'desktop'}")

    async with page.expect_download() as download:
        await page.click("text=XLSX")
    saved = await (await download.value).path()
    book = load_workbook(io.BytesIO(await asyncio.to_thread(Path(saved).read_bytes)))
    assert (book["Sessions"]["A3"].value, book["Sessions"]["B3"].value) == ("Sessions", 6)

    await page.goto("/reports")
    assert await page.locator("#report-list tbody tr").count() == 1
    await no_overflow(page)
    await screenshot(page, f"reports-list-{'phone' if mobile else 'desktop'}")
    assert errors == []


async def test_viewer_reads_but_cannot_make(reporting_console: Csms) -> None:
    async with logged_in(reporting_console, Role.VIEWER) as (client, csrf):
        page = await client.get("/reports")
        assert page.status_code == 200 and "Make a report now" not in page.text
        refused = await client.post("/reports", data={"csrf": csrf, "kind": "weekly", "day": "2026-03-25"})
        assert refused.status_code == 403
    async with logged_in(reporting_console, Role.OPERATOR) as (client, csrf):
        bad = await client.post("/reports", data={"csrf": csrf, "kind": "custom", "scope": "fleet"})
        assert bad.status_code == 303
        shown = await client.get(bad.headers["location"])
        assert "a custom report needs &#39;start&#39; and &#39;end&#39;" in shown.text
        missing = await client.get("/reports/999")
        assert missing.status_code == 404
