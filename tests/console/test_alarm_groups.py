"""ISA-18.2 consequential alarms on the console: a simulated 2.0.1 ground failure during a session raises three alarms,
shown as one group (its cause, "+2 consequences" folded under it), counted once in the header, acknowledged together
and audited; in Chromium at 1440x900 and 390x844, and over plain HTTP (no JavaScript)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evscada.core.access.audit import AuditFilter
from evscada.core.access.users import Role
from evscada.core.control import commands as c
from evscada.core.model import IdToken, StationId
from evscada.simulator.faults import FaultKind
from evscada.simulator.fleet import run_station
from evscada.simulator.station import SimulatedStation, StationSpec, cancel_quietly
from tests.console.conftest import QUIET, logged_in, logged_in_page, screenshot
from tests.console.test_trends import no_overflow
from tests.support import Csms, eventually

SID = "SIM-GF"


@contextlib.asynccontextmanager
async def simulated_station(csms: Csms, station_id: str, version: str = "2.0.1") -> AsyncIterator[SimulatedStation]:
    """A registered simulated station with two connectors, connected over a real socket and booted."""
    await csms.add_station(station_id)
    station = SimulatedStation(StationSpec(station_id=station_id, version=version, connectors=2), None, QUIET)
    task = asyncio.create_task(run_station(csms.url(station_id).rsplit("/", 1)[0], station))

    async def booted() -> bool:
        rows = await csms.rows("connectors", station_id=station_id)
        return len([r for r in rows if r["status"] == "Available"]) == 2

    try:
        assert await eventually(booted, timeout=15), f"{station_id} never booted"
        yield station
    finally:
        await cancel_quietly(task)


async def ground_failure_during_a_session(csms: Csms, station: SimulatedStation) -> list[dict[str, Any]]:
    """Start a session on EVSE 1, then trip its RCD: the station's event, the connector's fault and the aborted
    session each raise an alarm. Answers the three alarms, oldest first."""
    await csms.add_token("CARD-GF")
    outcome = await csms.app.core.commands.send(
        station_id=StationId(station.spec.station_id),
        command=c.RemoteStart(id_token=IdToken("CARD-GF", "ISO14443"), evse_id=1),
        actor="test",
    )
    assert outcome.status == "Accepted", outcome

    async def running() -> list[dict[str, Any]]:
        return await csms.rows("transactions", station_id=station.spec.station_id, state="running")

    assert await eventually(running), "the remote start began no session"
    assert station.inject(FaultKind.GROUND_FAILURE, connector=1)

    async def three() -> list[dict[str, Any]]:
        rows = await csms.rows("alarms", station_id=station.spec.station_id)
        return sorted(rows, key=lambda r: r["id"]) if len(rows) == 3 else []

    alarms = await eventually(three, timeout=10)
    assert alarms, await csms.rows("alarms")
    return alarms


async def test_a_ground_failure_is_one_group_counted_once_and_acknowledged_together_without_javascript(
    console_csms: Csms,
) -> None:
    csms = console_csms
    async with simulated_station(csms, SID) as station:
        cause, *consequences = await ground_failure_during_a_session(csms, station)
    assert {a["source"] for a in [cause, *consequences]} == {"station_event", "station_fault", "transaction"}
    assert cause["cause_id"] is None and all(a["cause_id"] == cause["id"] for a in consequences)

    async with logged_in(csms, Role.OPERATOR) as (operator, csrf):
        page = (await operator.get("/alarms")).text
        assert page.count('<tr class="alarm') == 1  # one row: the cause, its consequences folded inside
        assert re.search(r"<summary>\+2 consequences", page)
        for alarm in consequences:
            assert '<li class="consequence' in page and f'data-alarm="{alarm["id"]}"' in page
        assert (await operator.get("/data/alarms/attention")).json() == {"count": 1}  # one thing to look at
        assert (await operator.get("/data/alarms/banner")).json()["count"] == 1
        station_page = (await operator.get(f"/stations/{SID}?fragment=alarms")).text
        assert "+2 consequences" in station_page

        done = await operator.post(
            f"/alarms/{cause['id']}/acknowledge", data={"csrf": csrf, "consequences": "1", "comment": "RCD reset"}
        )
        assert done.status_code == 303
        assert "acknowledged%20with%202%20consequences" in done.headers["location"]
    rows = await csms.rows("alarms", station_id=SID)
    assert {r["acknowledged_by"] for r in rows} == {"operator"}
    audited = await csms.app.core.audit.entries(where=AuditFilter(action="alarm.acknowledge"))
    assert sorted(int(e.target_id) for e in audited) == sorted(r["id"] for r in rows)
    assert {e.details["how"] for e in audited} == {"group"}


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
async def test_an_operator_unfolds_the_group_and_acknowledges_the_cause_with_its_consequences(
    console_csms: Csms, browser: Any, mobile: bool
) -> None:
    csms = console_csms
    async with simulated_station(csms, SID) as station:
        page = await logged_in_page(browser, csms, Role.OPERATOR, mobile=mobile)
        viewport = {"width": 390, "height": 844} if mobile else {"width": 1440, "height": 900}
        await page.set_viewport_size(viewport)
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto("/alarms")
        cause, *consequences = await ground_failure_during_a_session(csms, station)

        group = page.locator(f'tr[data-alarm="{cause["id"]}"]')
        await group.locator("summary", has_text="+2 consequences").wait_for()  # live, without a reload
        assert await page.locator("#alarm-rows tr.alarm").count() == 1
        await page.wait_for_function("document.getElementById('alarm-badge').textContent === '1'")  # a group once
        folded = group.locator("li.consequence")
        assert not await folded.first.is_visible()  # folded until asked
        await group.locator("details.consequences > summary").click()
        await folded.nth(1).wait_for()
        assert [int(await li.get_attribute("data-alarm") or 0) for li in await folded.all()] == [
            a["id"] for a in consequences
        ]
        await no_overflow(page)
        await screenshot(page, f"alarm-group-{'phone' if mobile else 'desktop'}")

        ticked = group.locator('input[name="consequences"]')
        assert await ticked.is_checked()  # offered, and taken unless the operator unticks it
        assert "2 consequences" in (await group.locator("label.with-consequences").text_content() or "")
        await group.locator('td.actions input[name="comment"]').fill("RCD reset on site")
        await group.locator("td.actions button", has_text="Acknowledge").click()
        await page.wait_for_selector("p.flash >> text=acknowledged with 2 consequences")
        await no_overflow(page)
        rows = await csms.rows("alarms", station_id=SID)
        assert {r["acknowledged_by"] for r in rows} == {"operator"}
        assert all(r["comment"] == "operator: RCD reset on site" for r in rows)
        await page.locator("#alarm-badge").wait_for(state="hidden")
