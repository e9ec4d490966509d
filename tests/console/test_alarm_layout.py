"""Alarm tables fit a control-room screen and a phone: long messages wrap, Acknowledge stays on screen (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v201 import call

from evscada.core.access.users import Role
from evscada.core.model import AlarmId
from tests.console.conftest import logged_in_page, screenshot
from tests.support import Csms, eventually, station201

STATION = "DEPOT-NORTH-CHARGER-0001"
# What a 2.0.1 station may put in an alarm's message: a long component name and a long techInfo without spaces.
COMPONENT = "AuxiliaryPowerConverterCoolingCircuitMonitor"
TECH_INFO = "inverter_stage_2_overtemperature_derating_then_trip_" * 6
LONG_REASON = "waiting_for_the_electrician_from_the_depot_contractor_" * 3
LONG_COMMENT = "checked_the_RCD_twice_and_the_cable_insulation_resistance_" * 4

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def problem(evse: int) -> dict[str, Any]:
    return {
        "event_id": evse,
        "timestamp": datetime.now(UTC).isoformat(),
        "trigger": "Delta",
        "actual_value": "true",
        "event_notification_type": "HardWiredNotification",
        "component": {"name": COMPONENT, "evse": {"id": evse}},
        "variable": {"name": "Problem"},
        "tech_code": f"E{evse}",
        "tech_info": TECH_INFO,
    }


async def raise_alarms(csms: Csms) -> list[dict[str, Any]]:
    """Two station problems with long messages: one shelved with a long reason, the other with a long comment."""
    await csms.add_station(STATION)
    async with station201(csms, STATION) as cp:
        stamp = datetime.now(UTC).isoformat()
        await cp.call(call.NotifyEvent(generated_at=stamp, seq_no=0, event_data=[problem(1), problem(2)]))

        async def raised() -> list[dict[str, Any]]:
            rows = await csms.rows("alarms", state="active", source="station_event")
            return rows if len(rows) == 2 else []

        alarms = await eventually(raised)
        assert alarms, "the station's problems raised no alarms"
    assert all(TECH_INFO in a["message"] for a in alarms)
    core = csms.app.core
    shelved, commented = sorted(alarms, key=lambda a: a["id"])
    until = core.clock.now() + timedelta(hours=4)
    await core.alarms.shelve(alarm_id=AlarmId(shelved["id"]), by="operator", until=until, reason=LONG_REASON)
    await core.alarms.comment(alarm_id=AlarmId(commented["id"]), by="operator", text=LONG_COMMENT)
    return alarms


async def assert_fits(page: Any, url: str, viewport: dict[str, int], name: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("tr.alarm.shelved")
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= viewport["width"], f"{url} is {width} px wide in a {viewport['width']} px window"
    buttons = page.locator("tr.alarm button", has_text="Acknowledge")
    assert await buttons.count() == 2  # the shelved alarm and the commented one
    for i in range(2):
        button = buttons.nth(i)
        # Scroll the page only vertically: a button off to the side inside a scrolled table would not count.
        await button.evaluate("b => window.scrollTo(0, b.getBoundingClientRect().top + window.scrollY - 200)")
        box = await button.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (url, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (url, box)
        await button.click(trial=True)  # visible, enabled, not covered by anything
    await screenshot(page, name)


async def test_alarm_tables_fit_a_1440_px_screen_and_a_phone_with_acknowledge_on_screen(
    console_csms: Csms, browser: Any
) -> None:
    csms = console_csms
    shelved, _ = await raise_alarms(csms)

    desktop = await logged_in_page(browser, csms, Role.OPERATOR)
    await desktop.set_viewport_size(DESKTOP)
    await assert_fits(desktop, "/alarms", DESKTOP, "alarms-1440")
    await assert_fits(desktop, "/alarms?tab=history", DESKTOP, "alarm-history-1440")
    assert LONG_REASON in await desktop.inner_text(f'tr[data-alarm="{shelved["id"]}"]')  # wrapped, not cut

    phone = await logged_in_page(browser, csms, Role.OPERATOR, mobile=True)
    assert phone.viewport_size == PHONE
    await assert_fits(phone, "/alarms?tab=history", PHONE, "alarm-history-phone")
    await assert_fits(phone, "/alarms", PHONE, "alarms-phone")

    # The button works where it is: the shelved alarm acknowledged from the phone.
    phone.on("dialog", lambda dialog: dialog.accept())
    row = phone.locator(f'tr[data-alarm="{shelved["id"]}"]')
    await row.locator("button", has_text="Acknowledge").click()
    await phone.wait_for_selector("p.flash >> text=acknowledged")

    async def acknowledged() -> bool:
        (stored,) = await csms.rows("alarms", id=shelved["id"])
        return stored["acknowledged_by"] == "operator"

    assert await eventually(acknowledged)
