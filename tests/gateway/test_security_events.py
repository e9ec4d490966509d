"""Security events a station reports: OCPP's types each have an alarm; types a station invents share one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import connect

from evscada.core.alarms.service import AlarmFilter
from evscada.core.model import AlarmState, StationId
from tests.support import BOOT, Csms, exchange


async def test_security_event_types_a_station_invents_share_one_alarm(csms: Csms) -> None:
    await csms.add_station("CP-SEC")
    now = datetime.now(UTC).isoformat()
    async with connect(csms.url("CP-SEC"), subprotocols=["ocpp2.0.1"], ping_interval=None) as ws:  # type: ignore[list-item]
        assert (await exchange(ws, [2, "boot", "BootNotification", BOOT["ocpp2.0.1"]]))[0] == 3
        for n in range(30):
            payload: dict[str, Any] = {"type": f"Invented{n}", "timestamp": now}
            assert (await exchange(ws, [2, f"s{n}", "SecurityEventNotification", payload]))[0] == 3
        tamper = {"type": "TamperDetectionActivated", "timestamp": now}
        assert (await exchange(ws, [2, "t", "SecurityEventNotification", tamper]))[0] == 3
    assert len(await csms.rows("station_messages", station_id="CP-SEC", kind="security_event")) == 31  # all kept
    assert csms.app.alarm_engine is not None
    await csms.app.alarm_engine.check()  # every event so far is handled
    where = AlarmFilter(state=AlarmState.ACTIVE, source="security", station_id=StationId("CP-SEC"))
    alarms = await csms.app.core.alarms.list(where=where)
    assert {alarm.key.rsplit(":", 1)[1]: alarm.count for alarm in alarms} == {
        "other": 30,
        "TamperDetectionActivated": 1,
    }
    (other,) = [a for a in alarms if a.key.endswith(":other")]
    assert "Invented29" in other.message  # the latest type it sent
