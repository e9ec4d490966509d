"""Charging profiles end to end: the REST API, the CSMS and a simulated station of each version over real sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from evscada.core.model import StationId
from evscada.simulator.fleet import run_station
from evscada.simulator.station import StationSpec, cancel_quietly
from tests.simulator.helpers import QUIET
from tests.support import Csms, eventually

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])
SID = "SIM-SC"


@pytest.fixture
async def api(csms: Csms, api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The operator's API client of tests/e2e/conftest.py; the station is registered, the test connects its
    simulated station."""
    await csms.add_station(SID)
    await csms.add_token("CARD-1")
    return api


async def simulated(csms: Csms, version: str) -> asyncio.Task[None]:
    spec = StationSpec(station_id=SID, version=version, connectors=2)
    task = asyncio.create_task(run_station(csms.url(SID).rsplit("/", 1)[0], spec, QUIET))

    async def ready() -> bool:
        if csms.app.gateway.registry.get(StationId(SID)) is None:
            return False
        connectors = await csms.rows("connectors", station_id=SID)
        return len(connectors) == 2 and all(row["status"] == "Available" for row in connectors)

    assert await eventually(ready, timeout=10), "the simulated station never booted"
    return task


def station_max(**fields: Any) -> dict[str, Any]:
    start = datetime.now(UTC).isoformat()
    body = {
        "evse_id": 0,
        "id": 1,
        "stack_level": 0,
        "purpose": "ChargingStationMax",
        "schedule": {"unit": "W", "start": start, "periods": [{"start_s": 0, "limit": 7000}]},
    }
    return body | fields


@VERSIONS
async def test_profiles_set_read_cleared_and_carried_by_a_remote_start(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    task = await simulated(csms, version)
    try:
        # Before the station's limits are read the CSMS checks only the version's rules: the station refuses.
        deep = await api.post(f"/stations/{SID}/charging-profiles", json=station_max(stack_level=99))
        assert (deep.status_code, deep.json()["profile"]["status"]) == (200, "rejected")

        limited = await api.post(f"/stations/{SID}/charging-profiles", json=station_max())
        assert limited.status_code == 200, limited.text
        assert limited.json()["profile"]["status"] == "accepted"

        composite = await api.get(f"/stations/{SID}/composite-schedule", params={"evse_id": 0, "duration": 600})
        assert composite.status_code == 200, composite.text
        schedule = composite.json()["schedule"]
        assert schedule["unit"] == "W" and schedule["periods"][0]["limit"] <= 7000

        tx_profile = {
            "id": 5,
            "stack_level": 0,
            "purpose": "Tx",
            "kind": "Relative",
            "schedule": {"unit": "W", "periods": [{"start_s": 0, "limit": 3000}]},
        }
        started = await api.post(
            f"/stations/{SID}/commands/remote_start",
            json={"id_token": "CARD-1", "evse_id": 1, "charging_profile": tx_profile},
        )
        assert (started.status_code, started.json()["status"]) == (200, "Accepted"), started.text

        async def tx_profile_running() -> list[dict[str, Any]]:
            listed = (await api.get(f"/stations/{SID}/charging-profiles", params={"in_force": True})).json()
            return [p for p in listed if p["via"] == "remote_start" and p["transaction_id"]]

        (running,) = await eventually(tx_profile_running)
        (tx,) = await csms.rows("transactions", station_id=SID, state="running")
        assert (running["transaction_id"], running["evse_id"]) == (tx["station_transaction_id"], 1)

        cleared = await api.delete(f"/stations/{SID}/charging-profiles/1")
        assert (cleared.json()["status"], [p["profile"]["id"] for p in cleared.json()["cleared"]]) == ("Accepted", [1])
    finally:
        await cancel_quietly(task)


@VERSIONS
async def test_the_station_s_own_limits_are_read_and_checked(csms: Csms, api: httpx.AsyncClient, version: str) -> None:
    task = await simulated(csms, version)
    try:
        if version == "1.6":
            read = await api.post(f"/stations/{SID}/commands/get_configuration", json={})
            assert read.status_code == 200, read.text
        else:
            asked = await api.post(
                f"/stations/{SID}/commands/get_base_report", json={"report_base": "ConfigurationInventory"}
            )
            assert asked.status_code == 200, asked.text

            async def reported() -> list[dict[str, Any]]:
                return await csms.rows("device_variables", station_id=SID, component="SmartChargingCtrlr")

            await eventually(reported)
        many = station_max()
        many["schedule"]["periods"] = [{"start_s": n * 60, "limit": 7000} for n in range(25)]
        refused = await api.post(f"/stations/{SID}/charging-profiles", json=many)
        assert (refused.status_code, refused.json()["field"]) == (422, "schedule.periods"), refused.text
        assert "at most 24" in refused.json()["detail"]
        deep = await api.post(f"/stations/{SID}/charging-profiles", json=station_max(stack_level=99))
        assert (deep.status_code, deep.json()["field"]) == (422, "stack_level")
        assert await csms.rows("charging_profiles", station_id=SID) == []
    finally:
        await cancel_quietly(task)


async def test_a_2_0_1_station_reports_what_it_holds(csms: Csms, api: httpx.AsyncClient) -> None:
    task = await simulated(csms, "2.0.1")
    try:
        for n, evse in ((3, 1), (4, 2)):
            body = station_max(id=n, evse_id=evse, purpose="TxDefault")
            assert (await api.post(f"/stations/{SID}/charging-profiles", json=body)).json()["status"] == "Accepted"
        asked = await api.post(f"/stations/{SID}/charging-profiles/reported", json={"purpose": "TxDefault"})
        assert asked.json()["status"] == "Accepted", asked.text

        async def both() -> list[dict[str, Any]]:
            got = (await api.get(f"/stations/{SID}/charging-profiles/reported")).json()
            return got if len(got) == 2 else []

        got = await eventually(both)
        assert {(r["evse_id"], r["profile"]["id"], r["request_id"]) for r in got} == {
            (1, 3, asked.json()["command_id"]),
            (2, 4, asked.json()["command_id"]),
        }
    finally:
        await cancel_quietly(task)
