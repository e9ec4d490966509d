"""Alarms raised by real stations, seen and handled through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from evscada.core.access.users import Role
from evscada.core.model import SiteId, StationId
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.support import Csms, eventually, station16, station201

ALARMS = {
    "check_interval_seconds": 0.1,
    "offline_after_seconds": 0.5,
    "sites": {"Depot North": {"priorities": {"offline": 1, "transaction": 1}}},
}


@pytest.fixture
async def csms(database_url: str) -> AsyncIterator[Csms]:
    """The CSMS with short alarm timers (the `api` fixture talks to this one)."""
    async for running in start_csms(test_settings(database_url, alarms=ALARMS)):
        yield running


async def _alarms(api: httpx.AsyncClient, key: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/alarms", params=params, headers=key)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


async def _wait_for(api: httpx.AsyncClient, key: dict[str, str], check: Any, **params: Any) -> list[dict[str, Any]]:
    async def matching() -> list[dict[str, Any]]:
        return [a for a in await _alarms(api, key, **params) if check(a)]

    found: list[dict[str, Any]] = await eventually(matching)
    assert found, f"no alarm matched; alarms now: {await _alarms(api, key)}"
    return found


async def test_a_ground_failure_raises_a_critical_alarm_that_counts_repeats_and_clears(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    await csms.add_station("CP-16")
    async with station16(csms, "CP-16") as cp:
        await cp.call(call16.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        (alarm,) = await _wait_for(api, viewer, lambda a: a["source"] == "station_fault", state="active")
        assert alarm["priority"] == 1 and alarm["station_id"] == "CP-16" and alarm["count"] == 1
        assert (alarm["evse_id"], alarm["connector_id"]) == (1, 1) and "GroundFailure" in alarm["message"]
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted", info="35 mA")
        )
        await _wait_for(api, viewer, lambda a: a["count"] == 2, state="active")
        await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await _wait_for(api, viewer, lambda a: a["id"] == alarm["id"], state="cleared")
    assert await _alarms(api, viewer, state="active") == []
    history = (await api.get(f"/alarms/{alarm['id']}", headers=viewer)).json()
    assert history["state"] == "cleared" and history["cleared_at"] is not None and history["count"] == 2


async def test_a_faulted_201_connector_raises_and_clears(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    await csms.add_station("CP-201")
    now = datetime.now(UTC)
    async with station201(csms, "CP-201") as cp:
        await cp.call(
            call201.StatusNotification(timestamp=now.isoformat(), connector_status="Faulted", evse_id=2, connector_id=1)
        )
        (alarm,) = await _wait_for(api, viewer, lambda a: a["source"] == "station_fault", state="active")
        assert alarm["priority"] == 2 and alarm["evse_id"] == 2 and "Faulted" in alarm["message"]
        later = (now + timedelta(seconds=1)).isoformat()
        await cp.call(
            call201.StatusNotification(timestamp=later, connector_status="Available", evse_id=2, connector_id=1)
        )
        await _wait_for(api, viewer, lambda a: a["id"] == alarm["id"], state="cleared")


async def test_a_notify_event_problem_raises_and_its_clearing_clears(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    await csms.add_station("CP-201")

    def event(value: str, cleared: bool) -> dict[str, Any]:
        return {
            "event_id": 1,
            "timestamp": datetime.now(UTC).isoformat(),
            "trigger": "Delta",
            "actual_value": value,
            "event_notification_type": "HardWiredNotification",
            "component": {"name": "PowerConverter", "evse": {"id": 1}},
            "variable": {"name": "Problem"},
            "cleared": cleared,
            "tech_info": "fan stalled",
        }

    async with station201(csms, "CP-201") as cp:
        stamp = datetime.now(UTC).isoformat()
        await cp.call(call201.NotifyEvent(generated_at=stamp, seq_no=0, event_data=[event("true", False)]))
        (alarm,) = await _wait_for(api, viewer, lambda a: a["source"] == "station_event", state="active")
        assert "PowerConverter/Problem" in alarm["message"] and "fan stalled" in alarm["message"]
        await cp.call(call201.NotifyEvent(generated_at=stamp, seq_no=1, event_data=[event("false", True)]))
        await _wait_for(api, viewer, lambda a: a["id"] == alarm["id"], state="cleared")


async def test_a_station_lost_without_goodbye_goes_offline_and_clears_on_reconnect(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    await csms.add_station("CP-16")
    async with station16(csms, "CP-16") as cp:
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        cp._connection.transport.abort()  # the link dies: no close frame, no goodbye
        (alarm,) = await _wait_for(api, viewer, lambda a: a["source"] == "offline", state="active")
    assert alarm["station_id"] == "CP-16" and alarm["priority"] == 2 and "offline since" in alarm["message"]
    assert "closed with code" in alarm["message"]  # why the link ended, as the gateway saw it
    async with station16(csms, "CP-16") as cp:
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await _wait_for(api, viewer, lambda a: a["id"] == alarm["id"], state="cleared")


async def test_acknowledging_records_who_when_and_why(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    operator = await key_for(csms, Role.OPERATOR)
    await csms.add_station("CP-16")
    async with station16(csms, "CP-16") as cp:
        await cp.call(call16.StatusNotification(connector_id=1, error_code="HighTemperature", status="Faulted"))
        (alarm,) = await _wait_for(api, viewer, lambda a: True, state="active")
    path = f"/alarms/{alarm['id']}/acknowledge"
    assert (await api.post(path, headers=viewer)).status_code == 403
    before = datetime.now(UTC)
    response = await api.post(path, json={"comment": "technician on the way"}, headers=operator)
    assert response.status_code == 200, response.text
    acked = response.json()
    assert acked["acknowledged_by"] == "operator-user" and acked["state"] == "active"
    assert datetime.fromisoformat(acked["acknowledged_at"]) >= before - timedelta(seconds=1)
    assert acked["comment"] == "operator-user: technician on the way"
    assert (await api.post(path, headers=operator)).status_code == 409
    commented = await api.post(f"/alarms/{alarm['id']}/comment", json={"text": "part ordered"}, headers=operator)
    assert commented.json()["comment"].endswith("\noperator-user: part ordered")
    assert (await api.post("/alarms/999999/acknowledge", headers=operator)).status_code == 404
    assert (await api.post(f"/alarms/{alarm['id']}/comment", json={}, headers=operator)).status_code == 422


async def test_shelved_alarms_carry_their_shelf_and_come_back(csms: Csms, api: httpx.AsyncClient) -> None:
    operator = await key_for(csms, Role.OPERATOR)
    await csms.add_station("CP-16")
    async with station16(csms, "CP-16") as cp:
        await cp.call(call16.StatusNotification(connector_id=1, error_code="OtherError", status="Available"))
        (alarm,) = await _wait_for(api, operator, lambda a: True, state="active")
        path = f"/alarms/{alarm['id']}"
        bad = await api.post(f"{path}/shelve", json={"reason": "nuisance"}, headers=operator)
        assert bad.status_code == 422
        shelved = await api.post(f"{path}/shelve", json={"reason": "sensor glitch", "minutes": 60}, headers=operator)
        assert shelved.status_code == 200, shelved.text
        assert shelved.json()["shelved_until"] is not None and "sensor glitch" in shelved.json()["shelved_reason"]
        # The condition ends and starts again within the shelf: the new alarm is shelved as well.
        await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await _wait_for(api, operator, lambda a: a["id"] == alarm["id"], state="cleared")
        await cp.call(call16.StatusNotification(connector_id=1, error_code="OtherError", status="Available"))
        (again,) = await _wait_for(api, operator, lambda a: a["id"] != alarm["id"], state="active")
        assert again["shelved_until"] == shelved.json()["shelved_until"]
        short = await api.post(
            f"/alarms/{again['id']}/shelve", json={"reason": "short", "minutes": 0.005}, headers=operator
        )
        assert short.status_code == 200
        await _wait_for(api, operator, lambda a: a["id"] == again["id"] and a["shelved_until"] is None, state="active")
        assert (await api.post(f"/alarms/{again['id']}/unshelve", headers=operator)).status_code == 409


async def test_alarms_of_a_station_in_maintenance_are_suppressed(csms: Csms, api: httpx.AsyncClient) -> None:
    operator = await key_for(csms, Role.OPERATOR)
    viewer = await key_for(csms, Role.VIEWER)
    await csms.add_station("CP-16")
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    body = {"until": until, "reason": "replacing the cable"}
    assert (await api.put("/stations/CP-16/maintenance", json=body, headers=viewer)).status_code == 403
    assert (await api.put("/stations/NOPE/maintenance", json=body, headers=operator)).status_code == 404
    naive = {"until": "2030-01-01T00:00:00", "reason": "x"}
    assert (await api.put("/stations/CP-16/maintenance", json=naive, headers=operator)).status_code == 422
    response = await api.put("/stations/CP-16/maintenance", json=body, headers=operator)
    assert response.status_code == 200, response.text
    assert response.json()["started_by"] == "operator-user"
    assert (await api.get("/stations/CP-16/maintenance", headers=viewer)).json()["reason"] == "replacing the cable"
    async with station16(csms, "CP-16") as cp:
        await cp.call(call16.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        (alarm,) = await _wait_for(api, viewer, lambda a: True, state="active")
        assert alarm["suppressed"] is True
        assert (await api.delete("/stations/CP-16/maintenance", headers=operator)).status_code == 204
        assert (await api.get("/stations/CP-16/maintenance", headers=viewer)).json() is None
        assert (await api.delete("/stations/CP-16/maintenance", headers=operator)).status_code == 409
        # Back in service: the fault still there is no longer suppressed.
        (alarm,) = await _alarms(api, viewer, state="active")
        assert alarm["suppressed"] is False


async def test_an_abnormal_end_raises_with_the_sites_priority(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    site = await csms.app.core.sites.create(name="Depot North")
    for station in ("CP-N", "CP-X"):
        await csms.add_station(station)
    await csms.app.core.sites.place_station(
        station_id=StationId("CP-N"), name=None, site_id=SiteId(site.id), latitude=None, longitude=None
    )
    await csms.add_token("CARD-1")
    for station in ("CP-N", "CP-X"):
        async with station16(csms, station) as cp:
            start = await cp.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="CARD-1", meter_start=100, timestamp=datetime.now(UTC).isoformat()
                )
            )
            await cp.call(
                call16.StopTransaction(
                    meter_stop=100,
                    timestamp=datetime.now(UTC).isoformat(),
                    transaction_id=start.transaction_id,
                    reason="PowerLoss",
                )
            )
    await eventually(lambda: _count(api, viewer, 2, source="transaction"))
    found = await _alarms(api, viewer, source="transaction")
    by_station = {a["station_id"]: a for a in found}
    assert by_station["CP-N"]["priority"] == 1 and by_station["CP-N"]["site_id"] == site.id
    assert by_station["CP-X"]["priority"] == 3 and by_station["CP-X"]["site_id"] is None
    assert "PowerLoss" in by_station["CP-X"]["message"]
    assert {a["station_id"] for a in await _alarms(api, viewer, site_id=site.id)} == {"CP-N"}
    # A one-off event has no state to return from: acknowledging it ends it.
    operator = await key_for(csms, Role.OPERATOR)
    acked = await api.post(f"/alarms/{by_station['CP-X']['id']}/acknowledge", headers=operator)
    assert acked.json()["state"] == "cleared"


async def _count(api: httpx.AsyncClient, key: dict[str, str], n: int, **params: Any) -> bool:
    return len(await _alarms(api, key, **params)) == n


async def test_history_filters_paging_and_csv_export(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    await csms.add_station("CP-16")
    async with station16(csms, "CP-16") as cp:
        for code in ("GroundFailure", "OverVoltage", "NoError"):
            await cp.call(call16.StatusNotification(connector_id=1, error_code=code, status="Available"))
    await eventually(lambda: _count(api, viewer, 2, state="cleared"))
    page = await _alarms(api, viewer, limit=1, offset=1, source="station_fault")
    assert len(page) == 1 and "GroundFailure" in page[0]["message"]  # newest first
    assert len(await _alarms(api, viewer, priority=1)) == 1
    assert len(await _alarms(api, viewer, station_id="CP-16", source="station_fault")) == 2
    assert await _alarms(api, viewer, until=(datetime.now(UTC) - timedelta(hours=1)).isoformat()) == []
    assert (await api.get("/alarms", params={"since": "2026-01-01T00:00:00"}, headers=viewer)).status_code == 422
    assert (await api.get("/alarms", params={"priority": 5}, headers=viewer)).status_code == 422
    assert (await api.get("/alarms", params={"source": "nonsense"}, headers=viewer)).status_code == 422
    assert (await api.get("/alarms/123456", headers=viewer)).status_code == 404
    assert (await api.get("/alarms")).status_code == 401
    export = await api.get("/alarms/export", params={"station_id": "CP-16", "state": "cleared"}, headers=viewer)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [row["state"] for row in rows] == ["cleared", "cleared"]
    assert {row["message"].split(":")[1].split()[0] for row in rows} == {"GroundFailure", "OverVoltage"}
    assert rows[0]["raised_at"] and rows[0]["priority"] in ("1", "2")


async def test_alarm_changes_stream_as_live_events(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    await csms.add_station("CP-16")
    async with api.stream("GET", "/events", params={"type": "alarm_changed"}, headers=viewer) as response:
        received: list[dict[str, Any]] = []

        async def read() -> None:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    if len(received) == 2:
                        return

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.1)
        async with station16(csms, "CP-16") as cp:
            await cp.call(call16.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
            await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await asyncio.wait_for(reader, 5)
    assert [e["change"] for e in received] == ["raised", "cleared"]
    assert received[0]["alarm"]["priority"] == 1 and received[0]["alarm"]["station_id"] == "CP-16"
    assert received[1]["alarm"]["state"] == "cleared"
