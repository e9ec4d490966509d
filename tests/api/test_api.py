"""The REST API through a real HTTP client, with real OCPP stations behind it."""

from __future__ import annotations

import httpx
import pytest
from ocpp.v16 import call

from evscada.core.access.users import Role
from evscada.core.control import commands as c
from evscada.core.model import StationId
from tests.api.conftest import key_for as _key
from tests.e2e.test_commands import answering_station
from tests.support import Csms, station16


async def test_health_answers_without_a_key(csms: Csms, api: httpx.AsyncClient) -> None:
    response = await api.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok" and response.json()["stations_connected"] == 0


async def test_reads_need_a_valid_key(csms: Csms, api: httpx.AsyncClient) -> None:
    assert (await api.get("/stations")).status_code == 401
    bad = await api.get("/stations", headers={"Authorization": "Bearer evs_not-a-key"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"


async def test_a_station_and_its_session_are_visible_to_a_viewer(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await _key(csms, Role.VIEWER)
    await csms.add_station("CP-API")
    await csms.add_token("CARD")
    async with station16(csms, "CP-API") as cp:
        await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="CARD", meter_start=100, timestamp="2026-11-25T08:00:00Z")
        )
        await cp.call(
            call.StopTransaction(transaction_id=start.transaction_id, meter_stop=7100, timestamp="2026-11-25T09:00:00Z")
        )
        station = (await api.get("/stations/CP-API", headers=viewer)).json()
    assert (station["vendor"], station["online"], station["ocpp_version"]) == ("V", True, "1.6")
    assert station["connectors"][0]["status"] == "Charging"
    listed = (await api.get("/transactions", params={"station_id": "CP-API"}, headers=viewer)).json()
    assert [(t["id"], t["state"], t["energy_wh"]) for t in listed] == [(start.transaction_id, "ended", 7000)]
    detail = await api.get(f"/transactions/{start.transaction_id}", headers=viewer)
    assert detail.json()["stop_reason"] == "Local" and detail.json()["samples"] == []


async def test_unknown_ids_are_404(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await _key(csms, Role.VIEWER)
    assert (await api.get("/stations/NOPE", headers=viewer)).status_code == 404
    assert (await api.get("/transactions/999999", headers=viewer)).status_code == 404


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_operator_commands_a_station_and_the_answer_comes_back(
    csms: Csms, api: httpx.AsyncClient, version: str
) -> None:
    operator = await _key(csms, Role.OPERATOR)
    async with answering_station(csms, "CP-CMD", version) as station:
        response = await api.post(
            "/stations/CP-CMD/commands/reset", json={"kind": "hard", "reason": "stuck"}, headers=operator
        )
    assert response.status_code == 200, response.text
    assert (response.json()["outcome"], response.json()["status"]) == ("answered", "Accepted")
    assert station.received[0][0] == "Reset"
    (logged,) = (await api.get("/commands", params={"station_id": "CP-CMD"}, headers=operator)).json()
    assert (logged["actor"], logged["reason"], logged["status"]) == ("operator-user", "stuck", "Accepted")


async def test_a_viewer_may_not_command(csms: Csms, api: httpx.AsyncClient) -> None:
    viewer = await _key(csms, Role.VIEWER)
    async with answering_station(csms, "CP-CMD", "1.6") as station:
        response = await api.post("/stations/CP-CMD/commands/clear_cache", json={}, headers=viewer)
    assert response.status_code == 403
    assert station.received == []


async def test_command_errors_say_what_went_wrong(csms: Csms, api: httpx.AsyncClient) -> None:
    operator = await _key(csms, Role.OPERATOR)
    await csms.add_station("CP-OFF")
    offline = await api.post("/stations/CP-OFF/commands/clear_cache", json={}, headers=operator)
    assert offline.status_code == 409 and offline.json()["detail"]["outcome"] == "offline"
    unknown = await api.post("/stations/NOPE/commands/clear_cache", json={}, headers=operator)
    assert unknown.status_code == 404
    bad = await api.post("/stations/CP-OFF/commands/remote_start", json={"evse_id": 0}, headers=operator)
    assert bad.status_code == 422
    fields = {tuple(error["loc"]) for error in bad.json()["detail"]}
    assert ("body", "id_token") in fields and ("body", "evse_id") in fields
    assert (await api.post("/stations/CP-OFF/commands/self_destruct", json={}, headers=operator)).status_code == 404


async def test_the_openapi_document_lists_every_command(csms: Csms, api: httpx.AsyncClient) -> None:
    document = (await api.get("/../openapi.json")).json()
    paths = document["paths"]
    for name in (
        "remote_start",
        "remote_stop",
        "change_availability",
        "reset",
        "unlock_connector",
        "clear_cache",
        "trigger_message",
        "data_transfer",
    ):
        assert f"/api/v1/stations/{{station_id}}/commands/{name}" in paths


async def test_configuration_through_the_api(csms: Csms, api: httpx.AsyncClient) -> None:
    operator = await _key(csms, Role.OPERATOR)
    async with answering_station(csms, "CP-CFG", "1.6"):
        read = await api.post(
            "/stations/CP-CFG/commands/get_configuration",
            json={"settings": [{"name": "HeartbeatInterval"}]},
            headers=operator,
        )
        change = await api.post(
            "/stations/CP-CFG/commands/change_configuration",
            json={"name": "HeartbeatInterval", "value": "120"},
            headers=operator,
        )
    assert read.status_code == 200 and read.json()["data"]["settings"][0]["value"] == "300"
    assert (change.status_code, change.json()["status"]) == (200, "RebootRequired")


async def test_prometheus_metrics_count_stations_messages_and_commands(csms: Csms) -> None:
    assert csms.app.http is not None
    async with answering_station(csms, "CP-M", "1.6") as station:
        await station.call(call.Heartbeat())
        await station.call(call.Heartbeat())
        await csms.app.core.commands.send(station_id=StationId("CP-M"), command=c.ClearCache(), actor="ops")
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(f"http://127.0.0.1:{csms.app.http.port}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'evscada_stations_connected{ocpp_version="1.6"} 1.0' in text
    assert 'evscada_ocpp_messages_total{action="Heartbeat",ocpp_version="1.6"} 2.0' in text
    assert 'evscada_commands_total{command="clear_cache",outcome="answered"} 1.0' in text
    assert "evscada_database_latency_seconds" in text
