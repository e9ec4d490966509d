"""Message logging: an operator's switch keeps a station's OCPP frames in the database until switched off."""

from __future__ import annotations

from ocpp.v16 import call

from evscada.core.access.users import Role
from tests.console.conftest import PASSWORD, add_users, http
from tests.console.test_sessions import csrf_of
from tests.support import Csms, eventually, station16


async def test_frames_are_stored_while_logging_is_on_and_only_then(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_station("CP-1")
    async with http(csms) as client, station16(csms, "CP-1") as cp:
        await client.post("/login", data={"username": str(Role.OPERATOR), "password": PASSWORD})
        await cp.call(call.BootNotification(charge_point_model="X", charge_point_vendor="ACME"))
        csrf = await csrf_of(client)
        assert (await client.post("/stations/CP-1/frame-logging", data={"on": "1"})).status_code == 403  # no CSRF

        switched = await client.post("/stations/CP-1/frame-logging", data={"on": "1", "csrf": csrf})
        assert switched.status_code == 303
        assert "Message logging <b>on</b>" in (await client.get("/stations/CP-1")).text
        await cp.call(call.Heartbeat())

        async def stored() -> str:
            text = (await client.get("/stations/CP-1/frames.txt")).text
            return text if "Heartbeat" in text else ""

        log = await eventually(stored)
        assert "BootNotification" not in log  # sent before the switch
        assert "<- [2," in log and "-> [3," in log  # the call and its answer

        await client.post("/stations/CP-1/frame-logging", data={"on": "0", "csrf": csrf})
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
        await cp.call(call.Heartbeat())
        assert "StatusNotification" not in (await client.get("/stations/CP-1/frames.txt")).text


async def test_a_viewer_cannot_switch_message_logging(csms: Csms) -> None:
    await add_users(csms)
    await csms.add_station("CP-1")
    async with http(csms) as client:
        await client.post("/login", data={"username": str(Role.VIEWER), "password": PASSWORD})
        answer = await client.post("/stations/CP-1/frame-logging", data={"on": "1", "csrf": await csrf_of(client)})
    assert answer.status_code == 403
    assert await csms.rows("frame_logging") == []
