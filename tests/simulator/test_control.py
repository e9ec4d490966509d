"""People steer faults through the control surface's HTTP endpoints, and through fault plans in TOML."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evscada.simulator.control import start_control
from evscada.simulator.faults import FaultKind, PlanError, load_plan
from evscada.simulator.fleet import Fleet
from evscada.simulator.station import StationSpec, cancel_quietly
from tests.console.conftest import chromium
from tests.simulator.helpers import QUIET, SID, connector_status, ready
from tests.support import Csms, eventually


@pytest.fixture
async def control(csms_sqlite: Csms) -> AsyncIterator[httpx.AsyncClient]:
    csms = csms_sqlite
    await csms.add_station(SID)
    fleet = Fleet(csms.url(SID).rsplit("/", 1)[0], [StationSpec(station_id=SID, version="1.6", connectors=2)], QUIET)
    task = asyncio.create_task(fleet.run())
    server = await start_control(fleet, 0)
    try:
        assert await eventually(lambda: ready(csms), timeout=20)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
            yield client
    finally:
        await server.stop()
        await cancel_quietly(task)


async def test_a_fault_posted_to_the_control_surface_reaches_the_csms_and_a_delete_clears_it(
    csms_sqlite: Csms, control: httpx.AsyncClient
) -> None:
    answer = await control.post(f"/stations/{SID}/faults", json={"kind": "over_temperature", "connector": 2})
    assert answer.status_code == 202
    assert await connector_status(csms_sqlite, 2, "Faulted")
    (row,) = await csms_sqlite.rows("connectors", station_id=SID, evse_id=2)
    assert row["error_code"] == "HighTemperature"
    (station,) = (await control.get("/stations")).json()
    assert station["faults"] == {"2": "over_temperature"}

    assert (await control.delete(f"/stations/{SID}/faults")).json() == {"cleared": [SID]}
    assert await connector_status(csms_sqlite, 2, "Available")


async def test_the_control_surface_refuses_what_it_cannot_do(control: httpx.AsyncClient) -> None:
    assert (await control.post("/stations/NOPE/faults", json={"kind": "ground_failure"})).status_code == 404
    bad_kind = await control.post(f"/stations/{SID}/faults", json={"kind": "meteor"})
    assert bad_kind.status_code == 422 and "kind" in bad_kind.text
    assert (
        await control.post(f"/stations/{SID}/faults", json={"kind": "ground_failure", "connector": 9})
    ).status_code == 422
    assert (await control.post("/faults", json={"kind": "connection_drop", "share": 2})).status_code == 422


def test_a_fault_plan_is_read_from_toml_and_bad_entries_are_named(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        '[[fault]]\nat = 120\nshare = 0.5\nkind = "connection_drop"\nduration = 10\n\n'
        '[[fault]]\nat = 30\nstation = "SIM-0003"\nkind = "ground_failure"\nconnector = 1\n'
    )
    first, second = load_plan(plan_file)
    assert (first.at, first.kind, first.station, first.duration) == (30, FaultKind.GROUND_FAILURE, "SIM-0003", None)
    assert (second.kind, second.share, second.duration) == (FaultKind.CONNECTION_DROP, 0.5, 10)

    plan_file.write_text('[[fault]]\nat = 1\nkind = "ground_failure"\n')
    with pytest.raises(PlanError, match="fault 1: give either station or share"):
        load_plan(plan_file)
    plan_file.write_text('[[fault]]\nat = 1\nshare = 0.1\nkind = "flood"\n')
    with pytest.raises(PlanError, match="fault 1: kind must be one of"):
        load_plan(plan_file)


async def test_the_control_page_injects_a_fault_by_hand_without_loading_anything_from_elsewhere(
    csms_sqlite: Csms, control: httpx.AsyncClient
) -> None:
    base = str(control.base_url).rstrip("/")
    async with chromium() as browser:
        requested = await _fault_by_hand(csms_sqlite, await browser.new_page(), base)
    assert requested and all(url.startswith(base) for url in requested), requested


async def _fault_by_hand(csms_sqlite: Csms, page: Any, base: str) -> list[str]:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: print(f"browser error: {error}"))
    try:
        await page.goto(f"{base}/docs")
        await page.wait_for_selector("#rows tr")
        await page.fill("#one input[name=station]", SID)
        await page.select_option("#one select[name=kind]", "ground_failure")
        await page.fill("#one input[name=connector]", "1")
        await page.click("#one button:text('Inject')")
        await page.wait_for_selector("#answer:has-text('202')")
        await page.wait_for_selector("#rows td:has-text('1: ground_failure')")
        assert await connector_status(csms_sqlite, 1, "Faulted")
        await page.click("#clear-all")
        await page.wait_for_selector("#answer:has-text('DELETE /faults -> 200')")
        assert await connector_status(csms_sqlite, 1, "Available")
    finally:
        await page.close()
    return requested
