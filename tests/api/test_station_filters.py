"""Finding stations: filters done in the database; naming and placing a station with a partial PATCH."""

from __future__ import annotations

import httpx
from ocpp.v16 import call

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms, eventually, station16


async def _ids(api: httpx.AsyncClient, headers: dict[str, str], **params: object) -> list[str]:
    response = await api.get("/stations", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()]


async def test_stations_are_filtered_by_state_site_model_and_search(csms: Csms, api: httpx.AsyncClient) -> None:
    admin, viewer = await key_for(csms, Role.ADMIN), await key_for(csms, Role.VIEWER)
    site = (await api.post("/sites", json={"name": "Garage 50%"}, headers=admin)).json()
    for sid in ("CP-1", "CP-2", "CP-3"):
        await csms.add_station(sid)
    await api.patch("/stations/CP-3", json={"name": "Bay_7 west", "site_id": site["id"]}, headers=admin)
    async with station16(csms, "CP-1") as cp:
        boot = call.BootNotification(
            charge_point_model="Wallbox-22", charge_point_vendor="Acme", charge_point_serial_number="SN-0042"
        )
        await cp.call(boot)
        await cp.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))

        async def faulted() -> list[str]:
            return await _ids(api, viewer, status="Faulted")

        assert await eventually(faulted) == ["CP-1"]
        assert await _ids(api, viewer, online=True) == ["CP-1"]
        assert await _ids(api, viewer, online=False) == ["CP-2", "CP-3"]
        assert await _ids(api, viewer, model="wallbox-22") == ["CP-1"]
        assert await _ids(api, viewer, search="acm") == ["CP-1"]  # vendor, any case
        assert await _ids(api, viewer, search="0042") == ["CP-1"]  # serial number
        assert await _ids(api, viewer, search="bay_7") == ["CP-3"]  # name; _ is literal, not a wildcard
        assert await _ids(api, viewer, search="Bay%7") == []  # % too
        assert await _ids(api, viewer, search="cp-2") == ["CP-2"]
        assert await _ids(api, viewer, site_id=site["id"]) == ["CP-3"]
        assert await _ids(api, viewer, site_id=site["id"], online=True) == []
        assert await _ids(api, viewer, status="Charging") == []
    bad = await api.get("/stations", params={"status": "Sleeping", "online": "maybe"}, headers=viewer)
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("query", "status"), ("query", "online")}


async def test_a_station_is_named_and_placed_field_by_field(csms: Csms, api: httpx.AsyncClient) -> None:
    admin = await key_for(csms, Role.ADMIN)
    site = (await api.post("/sites", json={"name": "Depot"}, headers=admin)).json()
    await csms.add_station("CP-P")
    placed = await api.patch(
        "/stations/CP-P",
        json={"name": "Bay 3", "site_id": site["id"], "latitude": 48.1, "longitude": 11.6},
        headers=admin,
    )
    assert placed.status_code == 200, placed.text
    body = placed.json()
    assert (body["name"], body["site"], body["location"]) == (
        "Bay 3",
        {"id": site["id"], "name": "Depot"},
        {"latitude": 48.1, "longitude": 11.6},
    )
    renamed = (await api.patch("/stations/CP-P", json={"name": "Bay 4"}, headers=admin)).json()
    assert (renamed["name"], renamed["site"]["id"], renamed["location"]) == ("Bay 4", site["id"], body["location"])
    cleared = await api.patch(
        "/stations/CP-P", json={"latitude": None, "longitude": None, "site_id": None}, headers=admin
    )
    assert (cleared.json()["name"], cleared.json()["site"], cleared.json()["location"]) == ("Bay 4", None, None)
    # The registration fields still work beside the new ones, in one request.
    both = await api.patch("/stations/CP-P", json={"registration": "Pending", "name": None}, headers=admin)
    assert (both.json()["registration"], both.json()["name"]) == ("Pending", None)
    listed = (await api.get("/stations", headers=admin)).json()
    assert {k: listed[0][k] for k in ("name", "site", "location")} == {"name": None, "site": None, "location": None}

    half = await api.patch("/stations/CP-P", json={"latitude": 10}, headers=admin)
    assert half.status_code == 422 and "longitude" in half.json()["detail"]
    wrong = await api.patch("/stations/CP-P", json={"latitude": 100, "longitude": 200, "site_id": 0}, headers=admin)
    assert wrong.status_code == 422
    assert {tuple(e["loc"]) for e in wrong.json()["detail"]} == {
        ("body", "latitude"),
        ("body", "longitude"),
        ("body", "site_id"),
    }
    assert (await api.patch("/stations/CP-P", json={"site_id": 999}, headers=admin)).status_code == 404
    assert (await api.patch("/stations/NOPE", json={"name": "x"}, headers=admin)).status_code == 404
    operator = await key_for(csms, Role.OPERATOR)
    assert (await api.patch("/stations/CP-P", json={"name": "x"}, headers=operator)).status_code == 403
