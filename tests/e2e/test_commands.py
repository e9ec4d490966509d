"""Operators command stations: the CALL reaches a real OCPP client, its answer comes back and is logged."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201

from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported
from evscada.core.model import IdToken, StationId
from tests.support import Csms, Recording, connected_station, open_socket, until_connected


class Station16(Recording, ChargePoint16):  # type: ignore[misc]
    """Answers what a 1.6 station would, and remembers what it was asked."""

    @on("RemoteStartTransaction")
    def remote_start(self, **p: Any) -> Any:
        self.received.append(("RemoteStartTransaction", p))
        return result16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def remote_stop(self, **p: Any) -> Any:
        self.received.append(("RemoteStopTransaction", p))
        return result16.RemoteStopTransaction(status="Rejected")

    @on("ChangeAvailability")
    def availability(self, **p: Any) -> Any:
        self.received.append(("ChangeAvailability", p))
        return result16.ChangeAvailability(status="Scheduled")

    @on("Reset")
    def reset(self, **p: Any) -> Any:
        self.received.append(("Reset", p))
        return result16.Reset(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, **p: Any) -> Any:
        self.received.append(("UnlockConnector", p))
        return result16.UnlockConnector(status="Unlocked")

    @on("ClearCache")
    def clear_cache(self, **p: Any) -> Any:
        self.received.append(("ClearCache", p))
        return result16.ClearCache(status="Accepted")

    @on("TriggerMessage")
    def trigger(self, **p: Any) -> Any:
        self.received.append(("TriggerMessage", p))
        return result16.TriggerMessage(status="Accepted")

    @on("DataTransfer")
    def data_transfer(self, **p: Any) -> Any:
        self.received.append(("DataTransfer", p))
        return result16.DataTransfer(status="Accepted", data="pong")

    @on("GetConfiguration")
    def get_configuration(self, **p: Any) -> Any:
        self.received.append(("GetConfiguration", p))
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}], unknown_key=["Nope"]
        )

    @on("ChangeConfiguration")
    def change_configuration(self, **p: Any) -> Any:
        self.received.append(("ChangeConfiguration", p))
        return result16.ChangeConfiguration(status="RebootRequired")


class Station201(Recording, ChargePoint201):  # type: ignore[misc]

    @on("RequestStartTransaction")
    def remote_start(self, **p: Any) -> Any:
        self.received.append(("RequestStartTransaction", p))
        return result201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def remote_stop(self, **p: Any) -> Any:
        self.received.append(("RequestStopTransaction", p))
        return result201.RequestStopTransaction(status="Rejected")

    @on("ChangeAvailability")
    def availability(self, **p: Any) -> Any:
        self.received.append(("ChangeAvailability", p))
        return result201.ChangeAvailability(status="Scheduled")

    @on("Reset")
    def reset(self, **p: Any) -> Any:
        self.received.append(("Reset", p))
        return result201.Reset(status="Accepted")

    @on("UnlockConnector")
    def unlock(self, **p: Any) -> Any:
        self.received.append(("UnlockConnector", p))
        return result201.UnlockConnector(status="Unlocked")

    @on("ClearCache")
    def clear_cache(self, **p: Any) -> Any:
        self.received.append(("ClearCache", p))
        return result201.ClearCache(status="Accepted")

    @on("TriggerMessage")
    def trigger(self, **p: Any) -> Any:
        self.received.append(("TriggerMessage", p))
        return result201.TriggerMessage(status="Accepted")

    @on("DataTransfer")
    def data_transfer(self, **p: Any) -> Any:
        self.received.append(("DataTransfer", p))
        return result201.DataTransfer(status="Accepted", data="pong")

    @on("GetVariables")
    def get_variables(self, **p: Any) -> Any:
        self.received.append(("GetVariables", p))
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attribute_status": "UnknownVariable",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "Nope"},
                },
            ]
        )

    @on("SetVariables")
    def set_variables(self, **p: Any) -> Any:
        self.received.append(("SetVariables", p))
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "RebootRequired",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
            ]
        )


STATIONS = {"1.6": ("ocpp1.6", Station16), "2.0.1": ("ocpp2.0.1", Station201)}


@contextlib.asynccontextmanager
async def answering_station(csms: Csms, station_id: str, version: str) -> AsyncIterator[Any]:
    await csms.add_station(station_id)
    subprotocol, cls = STATIONS[version]
    async with connected_station(cls, subprotocol, csms, station_id, response_timeout=5, until_registered=True) as st:
        yield st


# (command, 1.6 action and payload the station must receive, 2.0.1 action and payload, expected status)
CASES = [
    (
        c.RemoteStart(id_token=IdToken("CARD-1", "ISO14443"), evse_id=2),
        ("RemoteStartTransaction", {"connector_id": 2, "id_tag": "CARD-1"}),
        ("RequestStartTransaction", {"evse_id": 2, "id_token": {"id_token": "CARD-1", "type": "ISO14443"}}),
        "Accepted",
    ),
    (
        c.RemoteStop(station_transaction_id="17"),
        ("RemoteStopTransaction", {"transaction_id": 17}),
        ("RequestStopTransaction", {"transaction_id": "17"}),
        "Rejected",
    ),
    (
        c.ChangeAvailability(operative=False, evse_id=1),
        ("ChangeAvailability", {"connector_id": 1, "type": "Inoperative"}),
        ("ChangeAvailability", {"operational_status": "Inoperative", "evse": {"id": 1}}),
        "Scheduled",
    ),
    (c.Reset(kind=c.ResetKind.HARD), ("Reset", {"type": "Hard"}), ("Reset", {"type": "Immediate"}), "Accepted"),
    (
        c.UnlockConnector(evse_id=1),
        ("UnlockConnector", {"connector_id": 1}),
        ("UnlockConnector", {"evse_id": 1, "connector_id": 1}),
        "Unlocked",
    ),
    (c.ClearCache(), ("ClearCache", {}), ("ClearCache", {}), "Accepted"),
    (
        c.TriggerMessage(message="StatusNotification", evse_id=1),
        ("TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1}),
        ("TriggerMessage", {"requested_message": "StatusNotification", "evse": {"id": 1}}),
        "Accepted",
    ),
    (
        c.DataTransfer(vendor_id="com.acme", message_id="ping"),
        ("DataTransfer", {"vendor_id": "com.acme", "message_id": "ping"}),
        ("DataTransfer", {"vendor_id": "com.acme", "message_id": "ping"}),
        "Accepted",
    ),
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize(("command", "call16", "call201", "status"), CASES, ids=[case[0].name for case in CASES])
async def test_a_command_reaches_the_station_and_its_answer_is_logged(
    csms_sqlite: Csms, version: str, command: c.Command, call16: Any, call201: Any, status: str
) -> None:
    csms = csms_sqlite
    async with answering_station(csms, "CP-CMD", version) as station:
        outcome = await csms.app.core.commands.send(
            station_id=StationId("CP-CMD"), command=command, actor="alice", reason="test"
        )
    action, expected = call16 if version == "1.6" else call201
    ((received_action, received),) = station.received
    assert received_action == action
    assert {k: v for k, v in received.items() if k in expected} == expected
    assert (outcome.outcome, outcome.status) == ("answered", status)
    (logged,) = await csms.rows("command_log", id=outcome.command_id)
    assert (logged["station_id"], logged["command"], logged["actor"], logged["reason"]) == (
        "CP-CMD",
        command.name,
        "alice",
        "test",
    )
    assert (logged["outcome"], logged["status"]) == ("answered", status)
    assert logged["finished_at"] >= logged["requested_at"]


async def test_the_remote_start_id_of_a_2_0_1_start_is_the_command_log_id(csms_sqlite: Csms) -> None:
    async with answering_station(csms_sqlite, "CP-CMD", "2.0.1") as station:
        outcome = await csms_sqlite.app.core.commands.send(
            station_id=StationId("CP-CMD"), command=c.RemoteStart(id_token=IdToken("CARD-1")), actor="alice"
        )
    assert station.received[0][1]["remote_start_id"] == outcome.command_id


async def test_a_command_to_an_offline_station_fails_at_once_and_is_logged(csms: Csms) -> None:
    await csms.add_station("CP-OFF")
    outcome = await asyncio.wait_for(
        csms.app.core.commands.send(station_id=StationId("CP-OFF"), command=c.ClearCache(), actor="bob"), 1.0
    )
    assert outcome.outcome == "offline" and "not connected" in (outcome.error or "")
    (logged,) = await csms.rows("command_log", station_id="CP-OFF")
    assert logged["outcome"] == "offline"


async def test_a_station_that_never_answers_times_out_and_is_logged(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    await csms.add_station("CP-MUTE")
    async with open_socket(csms.url("CP-MUTE"), "ocpp1.6") as ws:  # reads nothing, answers nothing
        await until_connected(csms, "CP-MUTE")
        session = csms.app.gateway.registry.get(StationId("CP-MUTE"))
        assert session is not None
        session._call_timeout = 0.3  # the setting is 30 s; a test does not wait that long
        outcome = await csms.app.core.commands.send(station_id=StationId("CP-MUTE"), command=c.Reset(), actor="bob")
        assert ws.state.name == "OPEN"
    assert outcome.outcome == "timeout"
    (logged,) = await csms.rows("command_log", station_id="CP-MUTE")
    assert logged["outcome"] == "timeout" and logged["finished_at"] is not None


async def test_a_call_error_from_the_station_is_returned_and_logged(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    await csms.add_station("CP-ERR")
    async with open_socket(csms.url("CP-ERR"), "ocpp1.6") as ws:
        bare = ChargePoint16("CP-ERR", ws)  # no handlers: the `ocpp` client answers every CALL NotImplemented
        reader = asyncio.create_task(bare.start())
        await until_connected(csms, "CP-ERR")
        outcome = await csms.app.core.commands.send(station_id=StationId("CP-ERR"), command=c.ClearCache(), actor="bob")
        reader.cancel()
    assert (outcome.outcome, outcome.status) == ("call_error", "NotImplemented")
    (logged,) = await csms.rows("command_log", station_id="CP-ERR")
    assert (logged["outcome"], logged["status"]) == ("call_error", "NotImplemented")
    assert "NotImplemented" in logged["error"]


async def test_a_command_the_version_cannot_express_is_refused_before_sending(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    async with answering_station(csms, "CP-16", "1.6") as station:
        with pytest.raises(CommandNotSupported, match=r"not a 1\.6 transaction id"):
            await csms.app.core.commands.send(
                station_id=StationId("CP-16"), command=c.RemoteStop(station_transaction_id="abc"), actor="bob"
            )
    assert station.received == []
    (logged,) = await csms.rows("command_log", station_id="CP-16")
    assert logged["outcome"] == "not_supported"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_configuration_is_read_and_changed_with_an_answer_per_setting(csms_sqlite: Csms, version: str) -> None:
    heartbeat = c.SettingRef(name="HeartbeatInterval", component="OCPPCommCtrlr")
    nope = c.SettingRef(name="Nope", component="OCPPCommCtrlr")
    async with answering_station(csms_sqlite, "CP-CFG", version) as station:
        read = await csms_sqlite.app.core.commands.send(
            station_id=StationId("CP-CFG"), command=c.GetSettings(settings=(heartbeat, nope)), actor="alice"
        )
        changed = await csms_sqlite.app.core.commands.send(
            station_id=StationId("CP-CFG"), command=c.ChangeSetting(setting=heartbeat, value="120"), actor="alice"
        )
    settings = {s["name"]: (s["value"], s["status"]) for s in read.data["settings"]}
    assert settings["HeartbeatInterval"] == ("300", "Accepted")
    assert settings["Nope"][1] == ("UnknownKey" if version == "1.6" else "UnknownVariable")
    assert (changed.outcome, changed.status) == ("answered", "RebootRequired")
    (_, asked), (_, change) = station.received
    if version == "1.6":
        assert asked == {"key": ["HeartbeatInterval", "Nope"]} and change == {
            "key": "HeartbeatInterval",
            "value": "120",
        }
    else:
        assert change["set_variable_data"][0]["attribute_value"] == "120"
        assert change["set_variable_data"][0]["component"] == {"name": "OCPPCommCtrlr"}


async def test_a_2_0_1_variable_needs_its_component(csms_sqlite: Csms) -> None:
    async with answering_station(csms_sqlite, "CP-CFG", "2.0.1") as station:
        with pytest.raises(CommandNotSupported, match="component"):
            await csms_sqlite.app.core.commands.send(
                station_id=StationId("CP-CFG"), command=c.GetSettings(settings=(c.SettingRef(name="X"),)), actor="a"
            )
    assert station.received == []


async def test_a_1_6_start_after_a_remote_start_is_linked_to_that_command(csms_sqlite: Csms) -> None:
    from ocpp.v16 import call as call16

    csms = csms_sqlite
    await csms.add_token("CARD-1")
    async with answering_station(csms, "CP-RS", "1.6") as station:
        outcome = await csms.app.core.commands.send(
            station_id=StationId("CP-RS"), command=c.RemoteStart(id_token=IdToken("CARD-1"), evse_id=1), actor="ops"
        )
        first = await station.call(
            call16.StartTransaction(connector_id=1, id_tag="CARD-1", meter_start=0, timestamp="2026-11-25T08:00:00Z")
        )
        other = await station.call(
            call16.StartTransaction(connector_id=2, id_tag="CARD-2", meter_start=0, timestamp="2026-11-25T08:01:00Z")
        )
    (linked,) = await csms.rows("transactions", pk=first.transaction_id)
    assert linked["remote_start_command_id"] == outcome.command_id
    (unlinked,) = await csms.rows("transactions", pk=other.transaction_id)
    assert unlinked["remote_start_command_id"] is None  # another token: not the answer to that command


async def test_a_2_0_1_start_carries_the_remote_start_id_back(csms_sqlite: Csms) -> None:
    from ocpp.v201 import call as call201

    csms = csms_sqlite
    async with answering_station(csms, "CP-RS", "2.0.1") as station:
        outcome = await csms.app.core.commands.send(
            station_id=StationId("CP-RS"), command=c.RemoteStart(id_token=IdToken("CARD-1", "ISO14443")), actor="ops"
        )
        remote_start_id = station.received[0][1]["remote_start_id"]
        await station.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp="2026-11-25T08:00:00Z",
                trigger_reason="RemoteStart",
                seq_no=0,
                transaction_info={"transaction_id": "T-1", "remote_start_id": remote_start_id},
                evse={"id": 1, "connector_id": 1},
                id_token={"id_token": "CARD-1", "type": "ISO14443"},
            )
        )
    (tx,) = await csms.rows("transactions", station_id="CP-RS")
    assert tx["remote_start_command_id"] == outcome.command_id == remote_start_id
