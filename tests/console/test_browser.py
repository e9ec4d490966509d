"""The console in a real browser against a running CSMS with simulated stations of both OCPP versions."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from ocpp.v16 import call

from evscada.core.access.users import Role
from evscada.core.control import commands as c
from evscada.core.model import IdToken, StationId
from tests.console.conftest import logged_in_page, screenshot
from tests.support import Csms, eventually, station16


async def remote_start(csms: Csms, sid: str) -> dict[str, Any]:
    outcome = await csms.app.core.commands.send(
        station_id=StationId(sid), command=c.RemoteStart(id_token=IdToken("CARD-1", "ISO14443"), evse_id=1), actor="t"
    )
    assert outcome.status == "Accepted"

    async def running() -> list[dict[str, Any]]:
        return await csms.rows("transactions", station_id=sid, state="running")

    (tx,) = await eventually(running)
    return tx


async def marker_state(page: Any, sid: str) -> str:
    return str(await page.get_attribute(f'.station-marker [data-station="{sid}"]', "data-state"))


async def test_the_map_shows_each_station_in_its_state_and_a_fault_turns_it_red_live(fleet: Csms, browser: Any) -> None:
    csms = fleet
    await csms.add_station("RAW-16")
    await csms.app.core.sites.place_station(
        station_id=StationId("RAW-16"), name="Hamburg 1", site_id=None, latitude=53.55, longitude=9.99
    )
    await remote_start(csms, "SIM-201")
    async with station16(csms, "RAW-16") as raw:
        await raw.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        await raw.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        page = await logged_in_page(browser, csms, Role.OPERATOR)
        await page.wait_for_selector(".station-marker [data-station]")
        await eventually(lambda: _count_markers(page, 3))

        assert await marker_state(page, "SIM-16") == "available"
        assert await marker_state(page, "SIM-201") == "charging"  # at its site's place: it has none of its own
        assert await marker_state(page, "RAW-16") == "available"
        colour = await page.eval_on_selector(
            '.station-marker [data-station="SIM-201"]', "e => getComputedStyle(e).backgroundColor"
        )
        assert colour == "rgb(31, 111, 209)"  # charging blue
        assert await page.inner_text('[data-count="charging"]') == "1"
        alarms = await page.context.new_page()  # the alarms page open beside the map, as in a control room
        await alarms.goto("/alarms")
        await alarms.evaluate("window.notReloaded = true")

        await raw.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))

        await page.wait_for_selector('.station-marker [data-station="RAW-16"][data-state="faulted"]')
        colour = await page.eval_on_selector(
            '.station-marker [data-station="RAW-16"]', "e => getComputedStyle(e).backgroundColor"
        )
        assert colour == "rgb(211, 47, 47)"  # red, and nobody reloaded the page
        assert await page.inner_text('[data-count="faulted"]') == "1"
        await page.click('.station-marker [data-station="RAW-16"]')
        popup = await page.inner_text(".leaflet-popup-content")
        assert "Hamburg 1" in popup and "GroundFailure" in popup
        await screenshot(page, "map")

        await acknowledge_live_alarm(alarms)
        await page.goto("/stations?sort=-state")
        assert await page.locator("#stations-rows tr").count() == 3
        await screenshot(page, "stations")
        mobile = await logged_in_page(browser, csms, Role.VIEWER, mobile=True)
        await screenshot(mobile, "map-phone")


async def acknowledge_live_alarm(page: Any) -> None:
    """The station's fault appears on the open alarms page by itself; an operator acknowledges it there."""
    row = page.locator("#alarm-rows tr.alarm", has_text="GroundFailure")
    await row.wait_for()
    assert await page.evaluate("window.notReloaded") is True
    assert "critical" in await row.inner_text() and "RAW-16" in await row.inner_text()
    await page.wait_for_function("document.getElementById('alarm-badge').textContent === '1'")
    await screenshot(page, "alarms")
    page.on("dialog", lambda dialog: dialog.accept())
    await row.locator('input[name="comment"]').fill("crew informed")
    await row.locator("button", has_text="Acknowledge").click()
    await page.wait_for_url("**/alarms?message=*")
    acknowledged = page.locator("#alarm-rows tr.alarm.acknowledged", has_text="GroundFailure")
    assert "operator" in await acknowledged.inner_text() and "crew informed" in await acknowledged.inner_text()
    await page.wait_for_function("document.getElementById('alarm-badge').hidden")
    await screenshot(page, "alarms-acknowledged")


async def _count_markers(page: Any, n: int) -> bool:
    return bool(await page.locator(".station-marker [data-station]").count() == n)


async def test_an_operator_stops_a_session_from_the_station_page_then_reads_its_trend_and_exports_it(
    fleet: Csms, browser: Any
) -> None:
    csms = fleet
    tx = await remote_start(csms, "SIM-16")

    async def sampled() -> bool:  # the trend below must have ten power readings to draw
        power = await csms.rows("meter_samples", transaction_pk=tx["pk"], measurand="Power.Active.Import")
        return len(power) >= 10

    assert await eventually(sampled, timeout=15)
    page = await logged_in_page(browser, csms, Role.OPERATOR)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto("/stations/SIM-16")
    connector = page.locator('.connector[data-evse="1"]')
    await connector.locator("text=Stop session").wait_for()
    assert "CARD-1" in await connector.inner_text()
    await screenshot(page, "station")

    await connector.locator("text=Stop session").click()

    await page.wait_for_selector('.connector[data-evse="1"][data-status="Available"]')
    assert await page.locator("text=Stop session").count() == 0
    (ended,) = await csms.rows("transactions", pk=tx["pk"])
    assert (ended["state"], ended["stop_reason"]) == ("ended", "Remote")
    await page.wait_for_selector("#commands >> text=remote_stop")
    assert "Accepted" in await page.inner_text("#command-result")

    lock = page.locator('form[data-command="change_availability"]').first
    await lock.locator('select[name="evse_id"]').select_option("2")
    await lock.locator("button").click()
    await page.wait_for_selector('.connector[data-evse="2"][data-status="Unavailable"]')
    await page.click("#read-config button")
    await page.wait_for_selector("#config-result >> text=HeartbeatInterval")

    await page.goto(f"/trends?tx={tx['pk']}")
    await page.wait_for_selector('.trend[data-state="drawn"] .chart[data-measurand="Power.Active.Import"] canvas')
    points = await page.get_attribute('.chart[data-measurand="Power.Active.Import"]', "data-points")
    assert int(points or 0) >= 10
    await screenshot(page, "trends")

    other = await remote_start(csms, "SIM-201")
    await page.goto(f"/transactions?state=ended&since={datetime.now(UTC):%Y-%m-%d}T00:00")
    shown = await page.eval_on_selector_all("#transactions tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)")
    assert shown == [str(tx["pk"])]  # the running one is filtered out
    await screenshot(page, "transactions")
    async with page.expect_download() as download_info:
        await page.click("#export-csv")
    download = await download_info.value
    saved = await download.path()
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))  # a small file
    assert [row["id"] for row in rows] == shown
    assert rows[0]["station_id"] == "SIM-16" and float(rows[0]["energy_kwh"]) > 0
    assert other["pk"] != tx["pk"]

    await page.goto(f"/transactions/{tx['pk']}")
    await page.wait_for_selector('.trend[data-state="drawn"] canvas')
    await screenshot(page, "transaction")
    await page.goto("/access")
    await screenshot(page, "access")


async def test_a_viewer_has_no_stop_button_and_a_hand_made_stop_is_refused(fleet: Csms, browser: Any) -> None:
    csms = fleet
    tx = await remote_start(csms, "SIM-201")
    page = await logged_in_page(browser, csms, Role.VIEWER)
    await page.goto("/stations/SIM-201")
    await page.wait_for_selector('.connector[data-evse="1"] >> text=CARD-1')
    assert await page.locator("text=Stop session").count() == 0
    assert await page.locator("#controls").count() == 0

    answer = await page.evaluate(
        """async (tx) => {
            const r = await fetch('/api/v1/stations/SIM-201/commands/remote_stop', {
                method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': evscada.csrf},
                body: JSON.stringify({transaction_id: tx})});
            return r.status;
        }""",
        tx["station_transaction_id"],
    )

    assert answer == 403
    (still,) = await csms.rows("transactions", pk=tx["pk"])
    assert still["state"] == "running"
    assert not [row for row in await csms.rows("command_log") if row["command"] == "remote_stop"]
    await screenshot(page, "station-viewer")

    await page.goto("/dispatch")
    bus = await page.inner_text('#dispatch-rows tr:has-text("Bus 7")')
    assert "Munich 1" in bus and "%" in bus  # where it charges, and its state of charge
    await screenshot(page, "dispatch")
