"""2.0.1 device models: GetBaseReport / GetReport reach the station, its NotifyReport parts land in the model."""

from __future__ import annotations

from typing import Any

import httpx
from ocpp.v201 import call as call201

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.api.recording_stations import recording_station
from tests.support import Csms


def variable(component: dict[str, Any], name: str, value: str, **characteristics: Any) -> dict[str, Any]:
    return {
        "component": component,
        "variable": {"name": name},
        "variable_attribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
        "variable_characteristics": {"data_type": "integer", "supports_monitoring": False, **characteristics},
    }


async def test_a_base_report_is_stored_as_the_station_s_device_model(csms: Csms, api: httpx.AsyncClient) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    async with recording_station(csms, "CP-DM", "2.0.1") as station:
        asked = await api.post(
            "/stations/CP-DM/commands/get_base_report", json={"report_base": "FullInventory"}, headers=headers
        )
        assert asked.status_code == 200, asked.text
        assert asked.json()["status"] == "Accepted"
        request_id = asked.json()["command_id"]
        assert station.last("GetBaseReport") == {"request_id": request_id, "report_base": "FullInventory"}

        heartbeat = variable({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", "300", unit="s")
        evse_power = variable({"name": "EVSE", "evse": {"id": 1}}, "Power", "22000", max_limit=22000)
        max_power = {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            "variable_attribute": [{"type": "MaxSet", "value": "11000", "mutability": "ReadWrite"}],
        }
        for seq_no, part in enumerate([[heartbeat], [evse_power, max_power]]):
            await station.call(
                call201.NotifyReport(
                    request_id=request_id,
                    generated_at="2026-11-25T08:00:00Z",
                    seq_no=seq_no,
                    tbc=seq_no == 0,
                    report_data=part,
                )
            )
        # A later report replaces the value instead of adding a row.
        await station.call(
            call201.NotifyReport(
                request_id=request_id + 1,
                generated_at="2026-11-25T09:00:00Z",
                seq_no=0,
                report_data=[variable({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", "120", unit="s")],
            )
        )

    model = (await api.get("/stations/CP-DM/device-model", headers=headers)).json()
    assert len(model) == 3
    (hb,) = [row for row in model if row["variable"] == "HeartbeatInterval"]
    assert (hb["component"], hb["value"], hb["unit"], hb["mutability"], hb["request_id"]) == (
        "OCPPCommCtrlr",
        "120",
        "s",
        "ReadWrite",
        request_id + 1,
    )
    evse = (await api.get("/stations/CP-DM/device-model", params={"evse_id": 1}, headers=headers)).json()
    assert {(r["attribute_type"], r["value"]) for r in evse} == {("Actual", "22000"), ("MaxSet", "11000")}
    assert all(r["component"] == "EVSE" and r["evse_id"] == 1 and r["connector_id"] is None for r in evse)
    maxset = await api.get(
        "/stations/CP-DM/device-model", params={"component": "EVSE", "attribute_type": "MaxSet"}, headers=headers
    )
    assert [r["value"] for r in maxset.json()] == ["11000"]
    assert len(await csms.rows("station_messages", station_id="CP-DM", kind="report")) == 3  # each part kept too


async def test_get_report_names_components_and_criteria(csms: Csms, api: httpx.AsyncClient) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    async with recording_station(csms, "CP-DM", "2.0.1") as station:
        station.answers["GetReport"] = "EmptyResultSet"
        asked = await api.post(
            "/stations/CP-DM/commands/get_report",
            json={
                "criteria": ["Problem"],
                "items": [{"component": "EVSE", "evse_id": 2, "variable": "Power"}, {"component": "SecurityCtrlr"}],
            },
            headers=headers,
        )
    assert asked.status_code == 200 and asked.json()["status"] == "EmptyResultSet"
    assert station.last("GetReport") == {
        "request_id": asked.json()["command_id"],
        "component_criteria": ["Problem"],
        "component_variable": [
            {"component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Power"}},
            {"component": {"name": "SecurityCtrlr"}},
        ],
    }


async def test_reports_are_refused_for_1_6_stations(csms: Csms, api: httpx.AsyncClient) -> None:
    headers = await key_for(csms, Role.OPERATOR)
    async with recording_station(csms, "CP-16", "1.6") as station:
        for command in ("get_base_report", "get_report"):
            refused = await api.post(f"/stations/CP-16/commands/{command}", json={}, headers=headers)
            assert refused.status_code == 400
            assert "not supported by OCPP 1.6" in refused.json()["detail"]
    assert station.received == []
    logged = await csms.rows("command_log", station_id="CP-16")
    assert [row["outcome"] for row in logged] == ["not_supported", "not_supported"]
    assert (await api.get("/stations/CP-16/device-model", headers=headers)).json() == []
    assert (await api.get("/stations/NOPE/device-model", headers=headers)).status_code == 404
    bad = await api.post("/stations/CP-16/commands/get_base_report", json={"report_base": "All"}, headers=headers)
    assert bad.status_code == 422
