"""Standing alarms and acknowledging several at once over the REST API, with real stations (SQLite and PG)."""

from __future__ import annotations

from typing import Any

import httpx
from ocpp.v16 import call as call16

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms, eventually, station16


async def _standing(api: httpx.AsyncClient, key: dict[str, str]) -> dict[int, dict[str, Any]]:
    response = await api.get("/alarms", params={"state": "standing"}, headers=key)
    assert response.status_code == 200, response.text
    return {a["evse_id"]: a for a in response.json()}  # 1.6: the connector is the EVSE


async def test_standing_alarms_are_acknowledged_selected_or_all_with_one_comment(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    operator = await key_for(csms, Role.OPERATOR)
    await csms.add_station("CP-1")
    async with station16(csms, "CP-1") as cp:
        for connector in (1, 2, 3):
            await cp.call(
                call16.StatusNotification(connector_id=connector, error_code="GroundFailure", status="Faulted")
            )
        await cp.call(call16.StatusNotification(connector_id=1, error_code="NoError", status="Available"))

        async def three_standing_one_cleared() -> dict[int, dict[str, Any]]:
            standing = await _standing(api, viewer)
            return standing if len(standing) == 3 and standing[1]["state"] == "cleared" else {}

        standing = await eventually(three_standing_one_cleared)
        assert standing, await _standing(api, viewer)
        gone, two, three = standing[1]["id"], standing[2]["id"], standing[3]["id"]
        active = (await api.get("/alarms", params={"state": "active"}, headers=viewer)).json()
        assert {a["id"] for a in active} == {two, three}  # the cleared one stands, but is not active
        assert (await api.get("/alarms", params={"state": "nonsense"}, headers=viewer)).status_code == 422

        assert (await api.post("/alarms/acknowledge", json={"ids": [gone]}, headers=viewer)).status_code == 403
        for body in ({}, {"ids": [gone], "all": True}, {"ids": []}, {"ids": [0]}):
            assert (await api.post("/alarms/acknowledge", json=body, headers=operator)).status_code == 422, body
        unknown = await api.post("/alarms/acknowledge", json={"ids": [gone, 999_999]}, headers=operator)
        assert unknown.status_code == 404 and "999999" in unknown.text
        assert (await _standing(api, viewer))[1]["acknowledged_at"] is None  # all or none

        done = await api.post(
            "/alarms/acknowledge", json={"ids": [gone, two], "comment": "crew on the way"}, headers=operator
        )
        assert done.status_code == 200, done.text
        assert sorted(a["id"] for a in done.json()) == sorted([gone, two])
        assert all(a["acknowledged_by"] == "operator-user" for a in done.json())
        standing = await _standing(api, viewer)
        assert set(standing) == {2, 3}  # the cleared one, once seen, has left the list
        assert standing[2]["comment"] == "operator-user: crew on the way" and standing[3]["acknowledged_at"] is None

        rest = await api.post("/alarms/acknowledge", json={"all": True, "comment": "handover"}, headers=operator)
        assert rest.status_code == 200, rest.text
        assert [a["id"] for a in rest.json()] == [three]
        assert (await api.get(f"/alarms/{three}", headers=viewer)).json()["comment"] == "operator-user: handover"
        again = await api.post("/alarms/acknowledge", json={"all": True}, headers=operator)
        assert again.status_code == 200 and again.json() == []
