"""The station page shows the charging profiles in force and asks the station for its composite schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from evscada.core.access.users import Role
from evscada.core.energy.profiles import ChargingProfile, ChargingSchedule, ProfileKind, ProfilePurpose, RateUnit
from evscada.core.energy.profiles import SchedulePeriod as Period
from evscada.core.model import StationId
from tests.console.conftest import logged_in_page, screenshot
from tests.support import Csms


@pytest.mark.parametrize("sid", ["SIM-16", "SIM-201"])
async def test_the_station_page_shows_profiles_in_force_and_the_composite_schedule(
    fleet: Csms, browser: Any, sid: str
) -> None:
    csms = fleet
    limit = ChargingProfile(
        id=4,
        stack_level=0,
        purpose=ProfilePurpose.STATION_MAX,
        kind=ProfileKind.ABSOLUTE,
        schedule=ChargingSchedule(RateUnit.WATTS, (Period(0, 7000.0),), start=datetime.now(UTC)),
    )
    sent = await csms.app.core.charging_profiles.set(station_id=StationId(sid), evse_id=0, profile=limit, actor="ops")
    assert sent.profile.in_force

    page = await logged_in_page(browser, csms, Role.VIEWER)
    await page.goto(f"/stations/{sid}")
    row = page.locator("#profiles-in-force tbody tr").first
    assert "ChargingStationMax" in await row.inner_text() and "7000 W" in await row.inner_text()

    await page.select_option('#composite-form select[name="unit"]', "W")
    await page.click("#composite-form button")
    await page.wait_for_selector("#composite-result table")
    shown = await page.inner_text("#composite-result")
    assert "EVSE 0" in shown and " W" in shown
    await screenshot(page, f"station-profiles-{sid}")
