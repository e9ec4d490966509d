"""Sites through the API: admins keep them, everyone reads them with their stations and how those are doing."""

from __future__ import annotations

import httpx
from ocpp.v16 import call

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms, eventually, station16

DEPOT = {"name": "Depot North", "address": "1 Yard Road", "latitude": 52.5, "longitude": 13.4, "grid_capacity_w": 400e3}


async def test_an_admin_keeps_sites_and_others_only_read_them(csms: Csms, api: httpx.AsyncClient) -> None:
    admin, operator, viewer = [await key_for(csms, role) for role in (Role.ADMIN, Role.OPERATOR, Role.VIEWER)]
    created = await api.post("/sites", json=DEPOT, headers=admin)
    assert created.status_code == 201, created.text
    site = created.json()
    assert site["location"] == {"latitude": 52.5, "longitude": 13.4} and site["grid_capacity_w"] == 400e3
    for who in (operator, viewer):
        assert (await api.post("/sites", json={"name": "Other"}, headers=who)).status_code == 403
        assert (await api.patch(f"/sites/{site['id']}", json={"name": "X"}, headers=who)).status_code == 403
        assert (await api.delete(f"/sites/{site['id']}", headers=who)).status_code == 403
    assert [s["name"] for s in (await api.get("/sites", headers=viewer)).json()] == ["Depot North"]

    assert site["grid_capacity_a"] is None
    change = {"address": None, "grid_capacity_w": 250e3, "grid_capacity_a": 400}
    changed = await api.patch(f"/sites/{site['id']}", json=change, headers=admin)
    assert changed.status_code == 200
    assert changed.json() | {"id": 0} == {
        "id": 0,
        "name": "Depot North",  # left out: kept
        "address": None,  # explicit null: cleared
        "location": {"latitude": 52.5, "longitude": 13.4},
        "grid_capacity_w": 250e3,
        "grid_capacity_a": 400,
    }
    over = await api.patch(f"/sites/{site['id']}", json={"grid_capacity_a": 100_001}, headers=admin)
    assert over.status_code == 422 and over.json()["detail"][0]["loc"] == ["body", "grid_capacity_a"]
    assert (await api.delete(f"/sites/{site['id']}", headers=admin)).status_code == 204
    assert (await api.get(f"/sites/{site['id']}", headers=viewer)).status_code == 404
    assert (await api.delete(f"/sites/{site['id']}", headers=admin)).status_code == 404


async def test_bad_site_input_is_named_and_duplicates_conflict(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    assert (await api.post("/sites", json=DEPOT, headers=admin)).status_code == 201
    assert (await api.post("/sites", json=DEPOT, headers=admin)).status_code == 409
    bad = await api.post(
        "/sites", json={"name": " ", "latitude": 91, "longitude": 0, "grid_capacity_w": -1}, headers=admin
    )
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {
        ("body", "name"),
        ("body", "latitude"),
        ("body", "grid_capacity_w"),
    }
    half = await api.post("/sites", json={"name": "Half", "latitude": 10}, headers=admin)
    assert half.status_code == 422 and "longitude" in str(half.json()["detail"])
    (site,) = (await api.get("/sites", headers=admin)).json()
    renamed = await api.patch(f"/sites/{site['id']}", json={"name": None}, headers=admin)
    assert renamed.status_code == 422 and renamed.json()["detail"][0]["loc"] == ["body", "name"]
    assert (await api.patch("/sites/999", json={"name": "Y"}, headers=admin)).status_code == 404
    assert (await api.patch(f"/sites/{site['id']}", json={"colour": "red"}, headers=admin)).status_code == 422
    other = (await api.post("/sites", json={"name": "South"}, headers=admin)).json()
    taken = await api.patch(f"/sites/{other['id']}", json={"name": "Depot North"}, headers=admin)
    assert taken.status_code == 409


async def test_a_site_shows_its_stations_and_counts_them_by_state(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    site = (await api.post("/sites", json=DEPOT, headers=admin)).json()
    for sid in ("CP-A", "CP-B", "CP-ELSEWHERE"):
        await csms.add_station(sid)
    for sid in ("CP-A", "CP-B"):
        placed = await api.patch(f"/stations/{sid}", json={"site_id": site["id"]}, headers=admin)
        assert placed.status_code == 200 and placed.json()["site"] == {"id": site["id"], "name": "Depot North"}
    async with station16(csms, "CP-A") as cp:
        await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        for connector, state in ((1, "Charging"), (2, "Available")):
            await cp.call(call.StatusNotification(connector_id=connector, error_code="NoError", status=state))

        async def detail() -> dict | None:
            body = (await api.get(f"/sites/{site['id']}", headers=admin)).json()
            return body if body["counts"]["connectors"] else None

        body = await eventually(detail)
        assert [s["id"] for s in body["stations"]] == ["CP-A", "CP-B"]
        assert body["counts"] == {
            "stations": 2,
            "online": 1,
            "offline": 1,
            "registration": {"Accepted": 2},
            "connectors": {"Charging": 1, "Available": 1},
        }
    await api.delete(f"/sites/{site['id']}", headers=admin)
    assert (await api.get("/stations/CP-A", headers=admin)).json()["site"] is None  # the station stays, unplaced
