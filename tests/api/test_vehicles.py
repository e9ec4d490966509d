"""Vehicles through the API, and the vehicle a session records: from the token, seen in listings and the export."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from ocpp.v16 import call

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.conftest import start_csms, test_settings
from tests.support import Csms, station16

BUS = {"name": "Bus 17", "plate": "B-EV 17", "fleet_number": "17", "fleet": "City", "battery_capacity_wh": 350e3}
SETTLE = 0.2


@pytest.fixture
async def csms_quick_export(database_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(database_url, export_settle_seconds=SETTLE)):
        yield running


@pytest.fixture
async def client(csms_quick_export: Csms) -> AsyncIterator[httpx.AsyncClient]:
    assert csms_quick_export.app.http is not None
    base = f"http://127.0.0.1:{csms_quick_export.app.http.port}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        yield http


async def test_operators_keep_vehicles_and_viewers_read_them(csms: Csms, api: httpx.AsyncClient) -> None:
    operator, viewer = await key_for(csms, Role.OPERATOR), await key_for(csms, Role.VIEWER)
    created = await api.post("/vehicles", json=BUS, headers=operator)
    assert created.status_code == 201, created.text
    vehicle = created.json()
    unplanned = {"departure_time": None, "next_departure": None, "next_departure_at": None, "target_soc_pct": None}
    assert vehicle | {"id": 0} == BUS | unplanned | {"id": 0, "tokens": [], "priority": 0, "max_power_w": None}
    assert (await api.post("/vehicles", json=BUS, headers=operator)).status_code == 409
    assert (await api.post("/vehicles", json={"name": "Car"}, headers=viewer)).status_code == 403
    assert (await api.patch(f"/vehicles/{vehicle['id']}", json={"fleet": None}, headers=viewer)).status_code == 403
    assert (await api.delete(f"/vehicles/{vehicle['id']}", headers=viewer)).status_code == 403

    changed = await api.patch(f"/vehicles/{vehicle['id']}", json={"fleet": None, "plate": "B-EV 71"}, headers=operator)
    assert (changed.json()["fleet"], changed.json()["plate"], changed.json()["name"]) == (None, "B-EV 71", "Bus 17")
    assert [v["name"] for v in (await api.get("/vehicles", headers=viewer)).json()] == ["Bus 17"]
    bad = await api.post("/vehicles", json={"name": "", "battery_capacity_wh": 0, "plate": "X" * 21}, headers=operator)
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {
        ("body", "name"),
        ("body", "battery_capacity_wh"),
        ("body", "plate"),
    }
    assert (await api.patch("/vehicles/999", json={"fleet": "x"}, headers=operator)).status_code == 404
    assert (await api.delete(f"/vehicles/{vehicle['id']}", headers=operator)).status_code == 204
    assert (await api.get(f"/vehicles/{vehicle['id']}", headers=viewer)).status_code == 404


async def test_tokens_are_linked_to_vehicles_and_unlinked(csms: Csms, api: httpx.AsyncClient) -> None:
    operator = await key_for(csms, Role.OPERATOR)
    vehicle = (await api.post("/vehicles", json=BUS, headers=operator)).json()
    await csms.add_token("CARD-1")
    linked = await api.post(f"/vehicles/{vehicle['id']}/tokens", json={"value": "CARD-1"}, headers=operator)
    assert linked.status_code == 200 and linked.json()["vehicle_id"] == vehicle["id"]
    assert (await api.get(f"/vehicles/{vehicle['id']}", headers=operator)).json()["tokens"] == ["CARD-1"]
    # Replacing a token without naming a vehicle keeps the link; naming one (or null) changes it.
    kept = await api.put("/tokens/CARD-1", json={"group_id": "FLEET"}, headers=operator)
    assert kept.json()["vehicle_id"] == vehicle["id"]
    created = await api.put("/tokens/CARD-2", json={"vehicle_id": vehicle["id"]}, headers=operator)
    assert created.json()["vehicle_id"] == vehicle["id"]
    assert (await api.put("/tokens/CARD-2", json={"vehicle_id": None}, headers=operator)).json()["vehicle_id"] is None
    assert (await api.put("/tokens/CARD-3", json={"vehicle_id": 999}, headers=operator)).status_code == 404
    assert (await api.get("/tokens/CARD-3", headers=operator)).status_code == 404  # nothing half-saved
    assert (await api.post("/vehicles/999/tokens", json={"value": "CARD-1"}, headers=operator)).status_code == 404
    unknown = await api.post(f"/vehicles/{vehicle['id']}/tokens", json={"value": "NOPE"}, headers=operator)
    assert unknown.status_code == 404
    assert (await api.delete(f"/vehicles/{vehicle['id']}/tokens/CARD-2", headers=operator)).status_code == 404
    assert (await api.delete(f"/vehicles/{vehicle['id']}/tokens/CARD-1", headers=operator)).status_code == 204
    assert (await api.get("/tokens/CARD-1", headers=operator)).json()["vehicle_id"] is None


async def test_a_session_records_the_vehicle_of_its_token_and_the_export_shows_it(
    csms_quick_export: Csms, client: httpx.AsyncClient
) -> None:
    csms = csms_quick_export
    admin = await key_for(csms, Role.ADMIN)
    site = (await client.post("/sites", json={"name": "Depot"}, headers=admin)).json()
    vehicle = (await client.post("/vehicles", json=BUS, headers=admin)).json()
    await client.put("/tokens/BUS-CARD", json={"vehicle_id": vehicle["id"]}, headers=admin)
    await client.put("/tokens/GUEST", json={}, headers=admin)
    for sid in ("CP-DEPOT", "CP-STREET"):
        await csms.add_station(sid)
    await client.patch("/stations/CP-DEPOT", json={"site_id": site["id"]}, headers=admin)
    now = datetime.now(UTC).isoformat()
    async with station16(csms, "CP-DEPOT") as depot, station16(csms, "CP-STREET") as street:
        bus = await depot.call(
            call.StartTransaction(connector_id=1, id_tag="BUS-CARD", meter_start=1000, timestamp=now)
        )
        guest = await street.call(call.StartTransaction(connector_id=1, id_tag="GUEST", meter_start=0, timestamp=now))
        assert bus.id_tag_info["status"] == guest.id_tag_info["status"] == "Accepted"
        await depot.call(call.StopTransaction(meter_stop=31000, timestamp=now, transaction_id=bus.transaction_id))
    # Re-linking the card later does not rewrite the session's history.
    await client.put("/tokens/BUS-CARD", json={"vehicle_id": None}, headers=admin)

    listed = (await client.get("/transactions", params={"vehicle_id": vehicle["id"]}, headers=admin)).json()
    assert [(t["id"], t["vehicle_id"], t["vehicle_name"]) for t in listed] == [
        (bus.transaction_id, vehicle["id"], "Bus 17")
    ]
    at_site = (await client.get("/transactions", params={"site_id": site["id"]}, headers=admin)).json()
    assert [t["station_id"] for t in at_site] == ["CP-DEPOT"]
    detail = (await client.get(f"/transactions/{guest.transaction_id}", headers=admin)).json()
    assert (detail["vehicle_id"], detail["vehicle_name"]) == (None, None)

    await asyncio.sleep(SETTLE + 0.1)
    rows = [json.loads(line) for line in (await client.get("/transactions/export", headers=admin)).text.splitlines()]
    by_token = {r["id_token"]: r for r in rows}
    assert (by_token["BUS-CARD"]["vehicle_id"], by_token["BUS-CARD"]["vehicle_name"]) == (vehicle["id"], "Bus 17")
    assert by_token["BUS-CARD"]["energy_wh"] == 30000
    assert (by_token["GUEST"]["vehicle_id"], by_token["GUEST"]["vehicle_name"]) == (None, None)
    text = (await client.get("/transactions/export", params={"format": "csv"}, headers=admin)).text
    csv_rows = {r["id_token"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (csv_rows["BUS-CARD"]["vehicle_id"], csv_rows["BUS-CARD"]["vehicle_name"]) == (str(vehicle["id"]), "Bus 17")
    assert (await client.get("/transactions", params={"vehicle_id": 0}, headers=admin)).status_code == 422
