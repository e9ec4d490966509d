"""ISA-18.2 alarm states on the console: a cleared alarm stands until acknowledged, acknowledge selected and all
(issue 19); over HTTP on SQLite and PostgreSQL, and once in a desktop browser."""

from __future__ import annotations

import re
from typing import Any

from ocpp.v16 import call

from evscada.core.access.users import Role
from tests.console.conftest import add_users, logged_in, logged_in_page, screenshot
from tests.support import Csms, eventually, station16


async def fault(cp: Any, *connectors: int) -> None:
    await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
    for connector in connectors:
        await cp.call(call.StatusNotification(connector_id=connector, error_code="GroundFailure", status="Faulted"))


async def standing(csms: Csms, count: int) -> dict[int, dict[str, Any]]:
    """The alarms by EVSE once `count` have been raised."""

    async def raised() -> dict[int, dict[str, Any]]:
        rows = {row["evse_id"]: row for row in await csms.rows("alarms")}
        return rows if len(rows) == count else {}

    rows = await eventually(raised)
    assert rows, await csms.rows("alarms")
    return rows


def row_of(page: str, alarm_id: object) -> str | None:
    found = re.search(rf'data-alarm="{alarm_id}">.*?<td class="state" data-label="State">([^<]*)', page, re.S)
    return found.group(1) if found else None


async def test_a_cleared_alarm_stays_listed_and_counted_until_acknowledged(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_station("CP-1")
    async with station16(csms, "CP-1") as cp:
        await fault(cp, 1, 2)
        alarms = await standing(csms, 2)
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        async def cleared() -> bool:
            return (await csms.rows("alarms", id=alarms[1]["id"]))[0]["state"] == "cleared"

        assert await eventually(cleared)
        gone, on = alarms[1]["id"], alarms[2]["id"]
        async with logged_in(csms, Role.VIEWER) as (viewer, viewer_csrf):
            page = (await viewer.get("/alarms")).text
            assert row_of(page, gone) == "cleared, unacknowledged" and row_of(page, on) == "active, unacknowledged"
            assert 'id="alarm-bulk"' not in page and 'name="id"' not in page  # a viewer gets no ticks
            station = (await viewer.get("/stations/CP-1?fragment=alarms")).text
            assert row_of(station, gone) == "cleared, unacknowledged"
            assert (await viewer.get("/data/alarms/attention")).json() == {"count": 2}  # unseen, whether over or not
            refused = await viewer.post("/alarms/acknowledge", data={"csrf": viewer_csrf, "scope": "all"})
            assert refused.status_code == 403

        async with logged_in(csms, Role.OPERATOR) as (operator, csrf):
            assert (await operator.post("/alarms/acknowledge", data={"scope": "all"})).status_code == 403  # no CSRF
            nothing = await operator.post("/alarms/acknowledge", data={"csrf": csrf, "scope": "selected"})
            assert "failed=1" in nothing.headers["location"]
            done = await operator.post(
                "/alarms/acknowledge", data={"csrf": csrf, "scope": "selected", "id": [str(gone)], "comment": "seen"}
            )
            assert done.status_code == 303 and "1%20alarm%20acknowledged" in done.headers["location"]
            page = (await operator.get("/alarms")).text
            assert row_of(page, gone) is None and row_of(page, on) == "active, unacknowledged"  # seen and over: gone
            assert (await operator.get("/data/alarms/attention")).json() == {"count": 1}
            await operator.post(f"/alarms/{on}/acknowledge", data={"csrf": csrf})
            assert row_of((await operator.get("/alarms")).text, on) == "active, acknowledged"
            history = (await operator.get("/alarms", params={"tab": "history"})).text
            assert row_of(history, gone) == "cleared, acknowledged"
        (stored,) = await csms.rows("alarms", id=gone)
        assert stored["acknowledged_by"] == "operator" and stored["comment"] == "operator: seen"


async def test_an_operator_acknowledges_two_selected_alarms_then_all(console_csms: Csms, browser: Any) -> None:
    csms = console_csms
    await csms.add_station("CP-1")
    async with station16(csms, "CP-1") as cp:
        await fault(cp, 1, 2, 3, 4)
        alarms = await standing(csms, 4)
        page = await logged_in_page(browser, csms, Role.OPERATOR)
        await page.set_viewport_size({"width": 1440, "height": 900})
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto("/alarms")
        for evse in (1, 3):
            await page.check(f'tr[data-alarm="{alarms[evse]["id"]}"] input[name="id"]')
        await page.fill('#alarm-bulk input[name="comment"]', "crew informed")
        await screenshot(page, "alarms-bulk-selected")
        await page.click("#alarm-bulk button >> text=Acknowledge selected")
        await page.wait_for_selector("p.flash >> text=2 alarms acknowledged")
        for evse, state in ((1, "active, acknowledged"), (2, "active, unacknowledged"), (3, "active, acknowledged")):
            assert await page.inner_text(f'tr[data-alarm="{alarms[evse]["id"]}"] td.state') == state
        rows = {row["evse_id"]: row for row in await csms.rows("alarms")}
        assert [rows[evse]["comment"] for evse in (1, 2, 3)] == [
            "operator: crew informed",
            None,
            "operator: crew informed",
        ]

        await page.check("#alarm-select-all")  # ticks what is left to acknowledge
        assert await page.locator('#alarm-rows input[name="id"]:checked').count() == 2
        await page.click("#alarm-bulk button >> text=Acknowledge all")
        await page.wait_for_selector("p.flash >> text=2 alarms acknowledged")
        assert {row["acknowledged_by"] for row in await csms.rows("alarms")} == {"operator"}
        assert await page.locator('#alarm-rows input[name="id"]').count() == 0
        await screenshot(page, "alarms-bulk-done")
