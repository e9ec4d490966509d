"""Consequential alarms over the REST API: `cause_id` and `consequences` in the output, acknowledging a cause with
its consequences, and every acknowledgement in the audit log (a real 1.6 station; SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
from ocpp.v16 import call as call16

from evscada.core.access.users import Role
from tests.api.conftest import key_for
from tests.support import Csms, eventually, station16


async def _alarms(api: httpx.AsyncClient, key: dict[str, str]) -> dict[int | None, dict[str, Any]]:
    response = await api.get("/alarms", params={"state": "standing"}, headers=key)
    assert response.status_code == 200, response.text
    return {a["evse_id"]: a for a in response.json()}


async def test_a_station_fault_groups_its_connector_faults_and_one_acknowledgement_takes_them_all(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    operator = await key_for(csms, Role.OPERATOR)
    admin = await key_for(csms, Role.ADMIN)
    await csms.add_station("CP-1")
    async with station16(csms, "CP-1") as cp:
        await cp.call(call16.StatusNotification(connector_id=0, error_code="PowerSwitchFailure", status="Faulted"))

        async def station_alarm() -> dict[int | None, dict[str, Any]]:
            return await _alarms(api, viewer) if 0 in await _alarms(api, viewer) else {}

        assert await eventually(station_alarm)  # raised first: the cause
        for connector, code in ((1, "GroundFailure"), (2, "HighTemperature")):
            await cp.call(call16.StatusNotification(connector_id=connector, error_code=code, status="Faulted"))

        async def three() -> dict[int | None, dict[str, Any]]:
            alarms = await _alarms(api, viewer)
            return alarms if len(alarms) == 3 else {}

        alarms = await eventually(three)
        assert alarms, await _alarms(api, viewer)
        cause, first, second = alarms[0], alarms[1], alarms[2]
        assert cause["cause_id"] is None and cause["consequences"] == 2
        assert first["cause_id"] == cause["id"] and second["cause_id"] == cause["id"]
        assert first["consequences"] == 0
        one = (await api.get(f"/alarms/{first['id']}", headers=viewer)).json()
        assert one["cause_id"] == cause["id"]
        export = await api.get("/alarms/export", headers=viewer)
        assert export.text.splitlines()[0].endswith(",cause_id,consequences")

        acknowledged = await api.post(
            f"/alarms/{cause['id']}/acknowledge",
            json={"comment": "breaker tripped", "consequences": True},
            headers=operator,
        )
        assert acknowledged.status_code == 200, acknowledged.text
        assert acknowledged.json()["id"] == cause["id"] and acknowledged.json()["acknowledged_by"] == "operator-user"
        after = await _alarms(api, viewer)
        assert all(a["acknowledged_by"] == "operator-user" for a in after.values()), after
        again = await api.post(f"/alarms/{cause['id']}/acknowledge", json={"consequences": True}, headers=operator)
        assert again.status_code == 409 and "acknowledged already" in again.text

        audit = await api.get("/audit", params={"action": "alarm.acknowledge"}, headers=admin)
        assert audit.status_code == 200, audit.text
        entries = {int(e["target_id"]): e for e in audit.json()}
        assert set(entries) == {cause["id"], first["id"], second["id"]}
        assert all(e["actor"] == "operator-user" and e["details"]["how"] == "group" for e in entries.values())
        assert entries[cause["id"]]["details"]["comment"] == "breaker tripped"


async def test_a_single_acknowledgement_leaves_the_consequences_unless_asked(
    csms: Csms, api: httpx.AsyncClient
) -> None:
    viewer = await key_for(csms, Role.VIEWER)
    operator = await key_for(csms, Role.OPERATOR)
    admin = await key_for(csms, Role.ADMIN)
    await csms.add_station("CP-2")
    async with station16(csms, "CP-2") as cp:
        await cp.call(call16.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        await eventually(lambda: _alarms(api, viewer))
        await cp.call(call16.StatusNotification(connector_id=0, error_code="OtherError", status="Faulted"))

        async def two() -> dict[int | None, dict[str, Any]]:
            alarms = await _alarms(api, viewer)
            return alarms if len(alarms) == 2 else {}

        alarms = await eventually(two)
        assert alarms[0]["cause_id"] == alarms[1]["id"]  # station-wide, but the connector's fault came first
        done = await api.post(f"/alarms/{alarms[1]['id']}/acknowledge", headers=operator)
        assert done.status_code == 200, done.text
        assert (await _alarms(api, viewer))[0]["acknowledged_at"] is None
        audit = (await api.get("/audit", params={"action": "alarm"}, headers=admin)).json()
        assert [(e["target_id"], e["details"]["how"]) for e in audit] == [(str(alarms[1]["id"]), "single")]
