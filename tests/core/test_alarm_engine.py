"""The alarm engine's timers and sources, driven by real OCPP stations against a CSMS on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v16.datatypes import MeterValue, SampledValue
from ocpp.v201 import call as call201

from evscada.app import Application
from evscada.core import events
from evscada.core.alarms.service import AlarmFilter
from evscada.core.control import commands as c
from evscada.core.model import Alarm, AlarmState, RegistrationStatus, StationId
from tests.conftest import _truncate, test_settings
from tests.support import Csms, eventually, open_socket, station16, station201

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


# The engine reads the clock when it handles an event: a test lets it catch up (Running.check) before moving time.


@dataclass
class Running:
    csms: Csms
    clock: FakeClock

    @property
    def app(self) -> Application:
        return self.csms.app

    async def check(self) -> None:
        """Run the engine's timer checks after every event so far."""
        assert self.app.alarm_engine is not None
        await self.app.alarm_engine.check()

    async def alarms(self, **where: Any) -> list[Alarm]:
        return await self.app.core.alarms.list(where=AlarmFilter(**where))

    async def active(self, source: str) -> list[Alarm]:
        return [a for a in await self.alarms(state=AlarmState.ACTIVE) if a.source == source]


ALARMS: dict[str, Any] = {
    "check_interval_seconds": 3600,  # only the test's check() runs the timers
    "offline_after_seconds": 60,
    "silent_after_seconds": 120,
    "flapping_reconnects": 3,
    "flapping_window_seconds": 60,
    "pending_after_seconds": 300,
    "no_meter_values_after_minutes": 5,
}


async def _start(url: str, clock: FakeClock, *, fresh: bool) -> AsyncIterator[Running]:
    app = Application(test_settings(url, alarms=ALARMS), clock=clock)
    await app.database.migrate()
    if fresh and app.database.engine.dialect.name == "postgresql":
        await _truncate(app.database)
    async with app:
        yield Running(Csms(app), clock)


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[Running]:
    async for r in _start(database_url, FakeClock(), fresh=True):
        yield r


async def _until(check: Any) -> Any:
    result = await eventually(check)
    assert result
    return result


async def test_a_connected_but_silent_station_raises_offline_until_it_speaks(running: Running) -> None:
    await running.csms.add_station("CP-1")
    async with station16(running.csms, "CP-1") as cp:
        await cp.call(call16.Heartbeat())
        await running.check()
        running.clock.advance(seconds=100)
        await running.check()
        assert await running.active("offline") == []
        running.clock.advance(seconds=30)
        await running.check()
        (alarm,) = await running.active("offline")
        assert "silent since 2026-11-25 12:00:00" in alarm.message
        await cp.call(call16.Heartbeat())
        await running.check()
        assert await running.active("offline") == []


async def test_stations_already_away_at_start_up_count_from_their_last_seen(database_url: str) -> None:
    clock = FakeClock()
    async for r in _start(database_url, clock, fresh=True):
        await r.csms.add_station("CP-AWAY")
        await r.app.store.touch_stations(last_seen={StationId("CP-AWAY"): START - timedelta(hours=2)})
        await r.csms.add_station("CP-NEVER")  # never connected: nothing to miss
    async for r in _start(database_url, clock, fresh=False):
        await r.check()
        (alarm,) = await r.active("offline")
        assert alarm.station_id == "CP-AWAY" and "offline since 2026-11-25 10:00:00" in alarm.message


async def test_reconnecting_again_and_again_is_flapping(running: Running) -> None:
    await running.csms.add_station("CP-1")
    for _ in range(3):
        async with station16(running.csms, "CP-1") as cp:
            await cp.call(call16.Heartbeat())
        await running.check()
        running.clock.advance(seconds=5)
    (alarm,) = await _until(lambda: running.active("flapping"))
    assert "3 times within 60 s" in alarm.message
    running.clock.advance(seconds=61)
    await running.check()
    assert await running.active("flapping") == []


async def test_a_station_left_pending_too_long_and_a_rejected_one_raise_boot_alarms(running: Running) -> None:
    await running.csms.add_station("CP-P", pending=True)
    await running.csms.add_station("CP-R")
    await running.app.core.stations.set_registration(
        station_id=StationId("CP-R"), registration=RegistrationStatus.REJECTED
    )
    boot = call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
    async with station16(running.csms, "CP-R") as cp:
        await cp.call(boot)
        (rejected,) = await _until(lambda: running.active("boot"))
        assert rejected.station_id == "CP-R" and "rejected" in rejected.message
    async with station16(running.csms, "CP-P") as cp:
        assert (await cp.call(boot)).status == "Pending"
        await running.check()
        running.clock.advance(seconds=301)
        await running.check()
        assert {a.station_id for a in await running.active("boot")} == {"CP-R", "CP-P"}
        await running.app.core.stations.set_registration(
            station_id=StationId("CP-P"), registration=RegistrationStatus.ACCEPTED
        )
        assert (await cp.call(boot)).status == "Accepted"
        await _until(lambda: _only(running, "boot", "CP-R"))


async def _only(running: Running, source: str, station: str) -> bool:
    return [a.station_id for a in await running.active(source)] == [station]


def _meter(wh: float) -> Any:
    stamp = datetime.now(UTC).isoformat()
    return [MeterValue(timestamp=stamp, sampled_value=[SampledValue(value=str(wh), unit="Wh")])]


async def test_a_session_without_meter_values_and_a_register_going_backwards(running: Running) -> None:
    await running.csms.add_station("CP-1")
    await running.csms.add_token("CARD")
    async with station16(running.csms, "CP-1") as cp:
        stamp = datetime.now(UTC).isoformat()
        start = await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD", meter_start=5000, timestamp=stamp))
        tx = start.transaction_id
        await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=_meter(5200)))
        await running.check()
        running.clock.advance(minutes=6)
        await running.check()
        (quiet,) = await running.active("no_meter_values")
        assert f"transaction {tx}" in quiet.message
        await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=_meter(4100)))
        await _until(lambda: _none(running, "no_meter_values"))
        (backwards,) = await _until(lambda: running.active("energy_register"))
        assert "from 5200 Wh to 4100 Wh" in backwards.message and backwards.evse is not None


async def _none(running: Running, source: str) -> bool:
    return await running.active(source) == []


async def test_station_messages_raise_security_firmware_and_upload_alarms(running: Running) -> None:
    await running.csms.add_station("CP-S", profile=1, password="a-long-password-123")
    with pytest.raises(Exception):  # noqa: B017 - refused at the handshake
        async with station16(running.csms, "CP-S", password="wrong-password-1234"):
            pass
    (security,) = await _until(lambda: running.active("security"))
    assert "AuthenticationFailed" in security.message and security.priority == 2
    await running.csms.add_station("CP-2")
    async with station201(running.csms, "CP-2") as cp:
        await cp.call(call201.FirmwareStatusNotification(status="InvalidSignature", request_id=7))
        await cp.call(call201.LogStatusNotification(status="UploadFailure", request_id=8))
        await cp.call(call201.SecurityEventNotification(type="ResetOrReboot", timestamp=datetime.now(UTC).isoformat()))
        await cp.call(
            call201.SecurityEventNotification(type="TamperDetectionActivated", timestamp=datetime.now(UTC).isoformat())
        )
        (firmware,) = await _until(lambda: running.active("firmware"))
        assert "InvalidSignature" in firmware.message
        (upload,) = await _until(lambda: running.active("diagnostics"))
        assert upload.priority == 4
        await _until(lambda: _count(running, "security", 2))  # the routine reboot raised nothing
        await cp.call(call201.FirmwareStatusNotification(status="Installed", request_id=9))
        await _until(lambda: _none(running, "firmware"))


async def _count(running: Running, source: str, n: int) -> bool:
    return len(await running.active(source)) == n


async def test_a_command_timeout_raises_and_the_next_answer_clears_it(running: Running) -> None:
    await running.csms.add_station("CP-MUTE")
    async with open_socket(running.csms.url("CP-MUTE"), "ocpp1.6"):  # reads nothing, answers nothing
        session = await _until(lambda: _session(running, "CP-MUTE"))
        session._call_timeout = 0.3
        outcome = await running.app.core.commands.send(
            station_id=StationId("CP-MUTE"), command=c.ClearCache(), actor="bob"
        )
        assert outcome.outcome == "timeout"
        (alarm,) = await _until(lambda: running.active("command_timeout"))
        assert "clear_cache" in alarm.message and alarm.priority == 4
    async with station16(running.csms, "CP-MUTE"):  # answers every CALL, if only with NotImplemented
        await _until(lambda: _session(running, "CP-MUTE"))
        outcome = await running.app.core.commands.send(
            station_id=StationId("CP-MUTE"), command=c.ClearCache(), actor="bob"
        )
        assert outcome.outcome == "call_error"
        await _until(lambda: _none(running, "command_timeout"))


async def _session(running: Running, station: str) -> Any:
    return running.app.gateway.registry.get(StationId(station))


async def test_maintenance_ends_by_itself_and_its_alarms_are_then_notified(running: Running) -> None:
    seen: list[events.AlarmChanged] = []
    await running.csms.add_station("CP-1")
    await running.app.core.alarms.start_maintenance(
        station_id=StationId("CP-1"), by="eve", until=START + timedelta(hours=1), reason="new cable"
    )
    async with running.app.bus.subscribe() as queue, station16(running.csms, "CP-1") as cp:
        await cp.call(call16.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted"))
        (alarm,) = await _until(lambda: running.active("station_fault"))
        assert alarm.suppressed
        await running.check()
        running.clock.advance(hours=2)
        await running.check()
        (alarm,) = await running.active("station_fault")
        assert not alarm.suppressed
        assert await running.app.core.alarms.maintenance(station_id=StationId("CP-1")) is None
        while not queue.empty():
            event = queue.get_nowait()
            if isinstance(event, events.AlarmChanged) and event.alarm.source == "station_fault":
                seen.append(event)
    assert [(e.change, e.alarm.suppressed) for e in seen] == [("raised", True), ("unsuppressed", False)]


def _tx_event(kind: str, seq: int, **more: Any) -> Any:
    stamp = datetime.now(UTC).isoformat()
    return call201.TransactionEvent(
        event_type=kind,
        timestamp=stamp,
        trigger_reason="MeterValuePeriodic" if kind == "Updated" else "CablePluggedIn",
        seq_no=seq,
        evse={"id": 1, "connectorId": 1},
        **more,
    )


async def test_a_201_session_meter_values_in_transaction_events_and_an_emergency_stop(running: Running) -> None:
    await running.csms.add_station("CP-2")
    register = {"timestamp": datetime.now(UTC).isoformat(), "sampledValue": [{"value": 1000.0}]}
    async with station201(running.csms, "CP-2") as cp:
        await cp.call(_tx_event("Started", 0, transaction_info={"transactionId": "T-1"}))
        await running.check()
        running.clock.advance(minutes=6)
        await running.check()
        (quiet,) = await running.active("no_meter_values")
        await cp.call(_tx_event("Updated", 1, transaction_info={"transactionId": "T-1"}, meter_value=[register]))
        await _until(lambda: _none(running, "no_meter_values"))
        info = {"transactionId": "T-1", "stoppedReason": "EmergencyStop"}
        await cp.call(_tx_event("Ended", 2, transaction_info=info, meter_value=[register]))
        (stop,) = await _until(lambda: running.active("transaction"))
        assert stop.priority == 2 and "EmergencyStop" in stop.message and stop.evse is not None
    assert quiet.count == 1
