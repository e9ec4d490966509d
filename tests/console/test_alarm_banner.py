"""The alarm banner on every page, in Chromium on a desktop and a phone: raised and acknowledged through the core."""

from __future__ import annotations

from typing import Any

import pytest

from evscada.core.access.users import Role
from evscada.core.model import AlarmPriority, EvseRef, StationId
from tests.console.conftest import logged_in_page, screenshot
from tests.support import Csms


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


async def raise_alarm(csms: Csms, key: str, priority: AlarmPriority, message: str) -> Any:
    """On its own EVSE (the key's length picks one): alarms of one place within a minute would be one group."""
    return await csms.app.core.alarms.raise_alarm(
        key=key,
        source="station_fault",
        station_id=StationId("CP-B"),
        evse=EvseRef(len(key), 1),
        priority=priority,
        message=message,
    )


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
async def test_the_most_urgent_unacknowledged_alarm_shows_on_every_page_until_it_is_acknowledged(
    console_csms: Csms, browser: Any, mobile: bool
) -> None:
    csms = console_csms
    await csms.add_station("CP-B")
    page = await logged_in_page(browser, csms, Role.OPERATOR, mobile=mobile)
    errors = watch_errors(page)
    await page.goto("/stations")
    banner = page.locator("#alarm-banner")
    await page.wait_for_load_state("networkidle")
    assert await banner.is_hidden()  # nothing waiting: no banner

    info = await raise_alarm(csms, "banner:info", AlarmPriority.MEDIUM, "door open")
    await banner.locator(".ab-message", has_text="door open").wait_for()  # live, without a reload
    assert "flashing" not in (await banner.get_attribute("class") or "")

    long = "GroundFailure on connector 1: residual current device tripped " + "x" * 120  # wraps, even without spaces
    critical = await raise_alarm(csms, "banner:fault", AlarmPriority.CRITICAL, long)
    await banner.locator(".ab-message", has_text="GroundFailure").wait_for()
    assert "flashing" in (await banner.get_attribute("class") or "")
    assert await banner.locator(".ab-station").text_content() == "CP-B"
    assert "1 critical" in (await banner.locator(".ab-prio").text_content() or "")
    assert await banner.locator(".ab-more").text_content() == "+1 more"
    assert await banner.locator(".ab-ack").get_attribute("href") == f"/alarms#alarm-{critical.id}"
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= (390 if mobile else 1280), f"the page scrolls sideways: {width}px"
    await screenshot(page, f"alarm-banner-{'phone' if mobile else 'desktop'}")

    await page.goto("/transactions")  # on another page it is there from the start
    await banner.locator(".ab-message", has_text="GroundFailure").wait_for()

    await csms.app.core.alarms.clear(key="banner:fault")  # back to normal, but nobody has seen it yet
    await banner.locator(".ab-age", has_text="cleared").wait_for()
    assert await banner.locator(".ab-message").text_content() == long
    await csms.app.core.alarms.acknowledge(alarm_id=critical.id, by="tester")
    await banner.locator(".ab-message", has_text="door open").wait_for(timeout=5000)  # the next one down
    await csms.app.core.alarms.acknowledge(alarm_id=info.id, by="tester")
    await banner.wait_for(state="hidden", timeout=5000)
    assert errors == []


async def test_the_alarm_sound_is_off_until_turned_on_and_stays_as_chosen_after_a_reload(
    console_csms: Csms, browser: Any
) -> None:
    csms = console_csms
    await csms.add_station("CP-B")
    page = await logged_in_page(browser, csms, Role.VIEWER)
    errors = watch_errors(page)
    await page.goto("/stations")
    toggle = page.locator("#alarm-sound")
    assert await toggle.text_content() == "Sound off" and await toggle.get_attribute("aria-pressed") == "false"
    await toggle.click()
    assert await toggle.text_content() == "Sound on"
    await page.reload()
    assert await toggle.text_content() == "Sound on" and await toggle.get_attribute("aria-pressed") == "true"
    assert await page.evaluate("localStorage.getItem('evscada.alarmSound')") == "on"

    alarm = await raise_alarm(csms, "banner:fault", AlarmPriority.HIGH, "offline for 5 min")
    mute = page.locator("#alarm-banner .ab-mute")
    await mute.wait_for()  # sounding: it can be silenced
    assert await page.locator("#alarm-banner .ab-ack").count() == 0  # a viewer may not acknowledge
    await mute.click()
    await page.reload()
    await page.locator("#alarm-banner .ab-message", has_text="offline").wait_for()
    assert await mute.is_hidden()  # silenced for good, not only on that page
    assert await page.evaluate("localStorage.getItem('evscada.alarmMuted')") == str(alarm.id)

    await toggle.click()
    await page.reload()
    assert await toggle.text_content() == "Sound off"
    assert errors == []
