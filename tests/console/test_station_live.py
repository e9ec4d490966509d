"""The station page at SCADA grade, in Chromium at 1440x900 and 390x844 with a simulated 2.0.1 station: the status
history and the OCPP frames follow the station live (no reload), a command's answer shows beside its button in the
station's words (accepted, rejected, offline), and a faulted 2.0.1 connector says why."""

from __future__ import annotations

from typing import Any

import pytest

from evscada.core.access.users import Role
from evscada.core.control import commands as c
from evscada.core.model import IdToken, StationId
from evscada.simulator.faults import SYMPTOMS, FaultKind
from tests.console.conftest import logged_in_page, screenshot
from tests.console.test_alarm_groups import simulated_station
from tests.console.test_trends import no_overflow
from tests.support import Csms, eventually

SID = "SIM-LIVE"
GROUND = SYMPTOMS[FaultKind.GROUND_FAILURE]


async def outcome_beside(page: Any, form: Any) -> tuple[str, str]:
    """The answer shown next to the form's button once the command has finished."""
    out = form.locator("output.command-outcome:not([data-outcome='sending'])")
    await out.wait_for()
    return str(await out.get_attribute("data-outcome")), str(await out.text_content())


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
async def test_the_station_page_follows_the_station_live_and_answers_each_command_beside_its_button(
    console_csms: Csms, browser: Any, mobile: bool
) -> None:
    csms = console_csms
    await csms.add_token("CARD-LIVE")
    async with simulated_station(csms, SID) as station:
        page = await logged_in_page(browser, csms, Role.OPERATOR, mobile=mobile)
        await page.set_viewport_size({"width": 390, "height": 844} if mobile else {"width": 1440, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto(f"/stations/{SID}")
        await page.evaluate("window.notReloaded = true")
        history, frames = page.locator("#history"), page.locator("#frames")
        assert await history.locator("tr[data-status='Faulted']").count() == 0

        # A remote start from elsewhere: the frames show it without a reload.
        outcome = await csms.app.core.commands.send(
            station_id=StationId(SID),
            command=c.RemoteStart(id_token=IdToken("CARD-LIVE", "ISO14443"), evse_id=1),
            actor="test",
        )
        assert outcome.status == "Accepted"
        await frames.locator("td", has_text="RequestStartTransaction").first.wait_for()
        await history.locator("tr[data-status='Occupied']").first.wait_for()

        # Rejected, in the station's words, next to the button that asked.
        unlock = page.locator("form[data-command='unlock_connector']")
        await unlock.locator("button").click()
        kind, text = await outcome_beside(page, unlock)
        assert kind == "rejected" and "OngoingAuthorizedTransaction" in text and "TxInProgress" in text, text
        assert "stop the session first" in text
        trigger = page.locator("form[data-command='trigger_message']")
        await trigger.locator("button").click()
        assert await outcome_beside(page, trigger) == ("accepted", "Accepted")
        assert await unlock.locator("output.command-outcome").get_attribute("data-outcome") == "rejected"  # its own

        # A ground failure: the connector says why, the history gets the line, the frames the NotifyEvent.
        assert station.inject(FaultKind.GROUND_FAILURE, connector=1)
        faulted = history.locator("tr[data-status='Faulted']", has_text=GROUND.error_code)
        await faulted.first.wait_for()
        assert GROUND.info in (await faulted.first.text_content() or "")
        reason = page.locator("#connectors [data-evse='1'] .fault-reason")
        await reason.wait_for()
        assert await reason.text_content() == f"error {GROUND.error_code}: {GROUND.info}"
        await frames.locator("td", has_text="NotifyEvent").first.wait_for()
        assert await page.evaluate("window.notReloaded === true")
        await no_overflow(page)
        await screenshot(page, f"station-live-{'phone' if mobile else 'desktop'}")

    # The station is gone: nothing can be sent, and the Reset form says so.
    async def offline() -> bool:
        return csms.app.gateway.registry.get(StationId(SID)) is None

    assert await eventually(offline)
    reset = page.locator("form[data-command='reset']")
    await reset.locator("button").click()
    kind, text = await outcome_beside(page, reset)
    assert kind == "offline" and text.startswith("offline: nothing was sent"), text
    await no_overflow(page)
