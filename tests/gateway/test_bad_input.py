"""Nothing a station sends can crash the server: each bad frame gets the CALLERROR its OCPP version prescribes,
the raw frame is logged for the vendor, and the connection and what was stored before both survive."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.conftest import start_csms, test_settings
from tests.support import Csms, open_socket

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
T0 = "2026-11-25T08:00:00Z"
BOOT = {
    "1.6": {"chargePointVendor": "V", "chargePointModel": "M"},
    "2.0.1": {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"},
}
STATUS = {
    "1.6": {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": T0},
    "2.0.1": {"timestamp": T0, "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
}

# Frames that cannot be read as a CALL: (frame, 1.6 code, 2.0.1 code, unique id in the answer).
UNREADABLE: dict[str, tuple[str | bytes, str, str, str]] = {
    "not JSON": ("Heartbeat please", "FormationViolation", "RpcFrameworkError", "-1"),
    "truncated JSON": ('[2, "t1", "Heartbeat", {', "FormationViolation", "RpcFrameworkError", "-1"),
    "an object, not an array": ('{"action": "Heartbeat"}', "FormationViolation", "RpcFrameworkError", "-1"),
    "an empty array": ("[]", "FormationViolation", "RpcFrameworkError", "-1"),
    "a number id": ('[2, 17, "Heartbeat", {}]', "FormationViolation", "RpcFrameworkError", "-1"),
    "an id over 36 chars": (f'[2, "{"x" * 37}", "Heartbeat", {{}}]', "FormationViolation", "RpcFrameworkError", "-1"),
    "a CALL without payload": ('[2, "c1", "Heartbeat"]', "ProtocolError", "RpcFrameworkError", "c1"),
    "a CALL with a list payload": ('[2, "c2", "Heartbeat", []]', "ProtocolError", "RpcFrameworkError", "c2"),
    "an unknown message type": ('[7, "c3", "Heartbeat", {}]', "ProtocolError", "MessageTypeNotSupported", "c3"),
    "invalid UTF-8 bytes": (b"\xff\xfe[2,", "FormationViolation", "RpcFrameworkError", "-1"),
}

# Payloads breaking the official schema: version -> case -> (action, payload, code).
BAD_PAYLOADS: dict[str, dict[str, tuple[str, dict[str, Any], str]]] = {
    "1.6": {
        "missing field": ("BootNotification", {"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
        "wrong type": ("StatusNotification", {**STATUS["1.6"], "connectorId": "one"}, "TypeConstraintViolation"),
        "out of enum": ("StatusNotification", {**STATUS["1.6"], "status": "Sleeping"}, "PropertyConstraintViolation"),
        "extra property": ("BootNotification", {**BOOT["1.6"], "colour": "red"}, "FormationViolation"),
        "too long": ("BootNotification", {**BOOT["1.6"], "chargePointModel": "M" * 21}, "TypeConstraintViolation"),
        "not RFC 3339": (
            "StatusNotification",
            {**STATUS["1.6"], "timestamp": "25.11.2026 08:00"},
            "TypeConstraintViolation",
        ),
        "no offset": (
            "StatusNotification",
            {**STATUS["1.6"], "timestamp": "2026-11-25T08:00:00"},
            "TypeConstraintViolation",
        ),
        "impossible date": (
            "StatusNotification",
            {**STATUS["1.6"], "timestamp": "2026-02-30T08:00:00Z"},
            "TypeConstraintViolation",
        ),
    },
    "2.0.1": {
        "missing field": (
            "BootNotification",
            {"chargingStation": BOOT["2.0.1"]["chargingStation"]},
            "OccurrenceConstraintViolation",
        ),
        "wrong type": ("StatusNotification", {**STATUS["2.0.1"], "evseId": "one"}, "TypeConstraintViolation"),
        "out of enum": ("BootNotification", {**BOOT["2.0.1"], "reason": "Bored"}, "PropertyConstraintViolation"),
        "extra property": ("BootNotification", {**BOOT["2.0.1"], "colour": "red"}, "FormatViolation"),
        "too long": (
            "BootNotification",
            {**BOOT["2.0.1"], "chargingStation": {"vendorName": "V", "model": "M" * 21}},
            "TypeConstraintViolation",
        ),
        "not RFC 3339": (
            "StatusNotification",
            {**STATUS["2.0.1"], "timestamp": "25.11.2026 08:00"},
            "TypeConstraintViolation",
        ),
        "no offset": (
            "StatusNotification",
            {**STATUS["2.0.1"], "timestamp": "2026-11-25T08:00:00"},
            "TypeConstraintViolation",
        ),
        "impossible date": (
            "StatusNotification",
            {**STATUS["2.0.1"], "timestamp": "2026-02-30T08:00:00Z"},
            "TypeConstraintViolation",
        ),
    },
}
PAYLOAD_CASES = [(v, name, *case) for v, cases in BAD_PAYLOADS.items() for name, case in cases.items()]


async def _exchange(ws: ClientConnection, frame: str | bytes) -> list[Any]:
    await ws.send(frame)
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return answer


async def _call(ws: ClientConnection, unique_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    answer = await _exchange(ws, json.dumps([2, unique_id, action, payload]))
    assert answer[:2] == [3, unique_id], answer
    return dict(answer[2])


async def _still_usable(ws: ClientConnection) -> None:
    assert (await _call(ws, "alive", "Heartbeat", {}))["currentTime"].endswith("Z")


@pytest.fixture
async def booted(
    csms_sqlite: Csms, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Csms, ClientConnection, str]]:
    """A station of the requested version, booted and with one connector status stored."""
    version: str = request.param
    await csms_sqlite.add_station("CP-BAD")
    async with open_socket(csms_sqlite.url("CP-BAD"), SUBPROTOCOL[version]) as ws:
        await _call(ws, "boot", "BootNotification", BOOT[version])
        await _call(ws, "status", "StatusNotification", STATUS[version])
        yield csms_sqlite, ws, version


async def _nothing_lost(csms: Csms) -> None:
    station = await csms.station("CP-BAD")
    assert (station["vendor"], station["model"], station["online"]) == ("V", "M", True)
    (connector,) = await csms.rows("connectors", station_id="CP-BAD", evse_id=1)
    assert connector["status"] == "Available"


@pytest.mark.parametrize("booted", ["1.6", "2.0.1"], indirect=True)
@pytest.mark.parametrize(("frame", "code16", "code201", "unique_id"), UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_frame_gets_the_prescribed_callerror_and_the_connection_stays(
    booted: tuple[Csms, ClientConnection, str],
    caplog: pytest.LogCaptureFixture,
    frame: str | bytes,
    code16: str,
    code201: str,
    unique_id: str,
) -> None:
    csms, ws, version = booted
    with caplog.at_level(logging.WARNING, logger="evscada.frames"):
        answer = await _exchange(ws, frame)
    assert answer[:3] == [4, unique_id, code16 if version == "1.6" else code201]
    assert answer[3] and answer[4] == {}  # a description of what is wrong, and empty details
    raw = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
    assert raw in "\n".join(r.getMessage() for r in caplog.records if r.name == "evscada.frames")
    await _still_usable(ws)
    await _nothing_lost(csms)


@pytest.mark.parametrize(
    ("version", "action", "code"),
    [
        ("1.6", "FlyToTheMoon", "NotImplemented"),
        ("2.0.1", "FlyToTheMoon", "NotImplemented"),
        ("1.6", "RemoteStartTransaction", "NotSupported"),  # a CSMS -> station action, sent by the station
        ("2.0.1", "RequestStartTransaction", "NotSupported"),
        ("2.0.1", "StartTransaction", "NotImplemented"),  # a 1.6 action on a 2.0.1 connection
    ],
)
async def test_an_action_the_csms_does_not_take_is_refused_by_name(
    csms_sqlite: Csms, caplog: pytest.LogCaptureFixture, version: str, action: str, code: str
) -> None:
    await csms_sqlite.add_station("CP-BAD")
    frame = json.dumps([2, "act-1", action, {"idTag": "X"}])
    async with open_socket(csms_sqlite.url("CP-BAD"), SUBPROTOCOL[version]) as ws:
        with caplog.at_level(logging.WARNING, logger="evscada.frames"):
            answer = await _exchange(ws, frame)
        await _still_usable(ws)
    assert answer[:3] == [4, "act-1", code]
    assert frame in "\n".join(r.getMessage() for r in caplog.records if r.name == "evscada.frames")


@pytest.mark.parametrize("booted", ["1.6", "2.0.1"], indirect=True)
@pytest.mark.parametrize(
    "case",
    [
        "missing field",
        "wrong type",
        "out of enum",
        "extra property",
        "too long",
        "not RFC 3339",
        "no offset",
        "impossible date",
    ],
)
async def test_a_payload_breaking_the_schema_gets_the_prescribed_callerror_and_changes_nothing(
    booted: tuple[Csms, ClientConnection, str], caplog: pytest.LogCaptureFixture, case: str
) -> None:
    csms, ws, version = booted
    action, payload, code = BAD_PAYLOADS[version][case]
    frame = json.dumps([2, "bad-1", action, payload])
    with caplog.at_level(logging.WARNING, logger="evscada.frames"):
        answer = await _exchange(ws, frame)
    assert answer[:3] == [4, "bad-1", code], answer
    assert frame in "\n".join(r.getMessage() for r in caplog.records if r.name == "evscada.frames")
    await _still_usable(ws)
    await _nothing_lost(csms)  # the bad BootNotification / StatusNotification overwrote nothing


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_answers_to_calls_the_csms_never_sent_are_ignored(csms_sqlite: Csms, version: str) -> None:
    await csms_sqlite.add_station("CP-BAD")
    async with open_socket(csms_sqlite.url("CP-BAD"), SUBPROTOCOL[version]) as ws:
        await ws.send('[3, "never-sent", {"status": "Accepted"}]')
        await ws.send('[4, "never-sent-2", "GenericError", "oops", {}]')
        await ws.send(b'[3, "never-sent-3", {}]')
        # No answer to any of them: the next frame we get is the Heartbeat's.
        await _still_usable(ws)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_valid_call_in_a_binary_frame_is_answered(csms_sqlite: Csms, version: str) -> None:
    await csms_sqlite.add_station("CP-BAD")
    async with open_socket(csms_sqlite.url("CP-BAD"), SUBPROTOCOL[version]) as ws:
        answer = await _exchange(ws, b'[2, "bin", "Heartbeat", {}]')
        assert answer[:2] == [3, "bin"]
        await _still_usable(ws)


async def test_a_storm_of_garbage_leaves_the_station_and_its_neighbours_working(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    await csms.add_station("CP-BAD")
    await csms.add_station("CP-OK")
    garbage: list[str | bytes] = ["", "null", "[null]", "[2]", '[2, "x"]', "[3]", '[4, "y"]', '"just a string"']
    garbage += ['[2, "z", "Heartbeat", {"a": ' * 50, "[" * 5000, b"\x00" * 100, '[2, "n", "MeterValues", null]']
    async with open_socket(csms.url("CP-OK"), "ocpp1.6") as neighbour:
        async with open_socket(csms.url("CP-BAD"), "ocpp1.6") as ws:
            for frame in garbage:
                await ws.send(frame)
            await _still_usable_after_noise(ws)
        await _still_usable(neighbour)
    async with open_socket(csms.url("CP-BAD"), "ocpp1.6") as ws:  # and the server takes new connections
        await _still_usable(ws)


async def _still_usable_after_noise(ws: ClientConnection) -> None:
    """Send a Heartbeat and skip the CALLERRORs still queued for earlier garbage."""
    await ws.send('[2, "alive", "Heartbeat", {}]')
    while True:
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if answer[1] == "alive":
            assert answer[0] == 3
            return
        assert answer[0] == 4


@pytest.fixture
async def csms_small_frames(sqlite_url: str) -> AsyncIterator[Csms]:
    async for running in start_csms(test_settings(sqlite_url, websocket_max_message_size=4096)):
        yield running


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_frame_over_the_size_limit_closes_only_that_connection_with_1009(
    csms_small_frames: Csms, version: str
) -> None:
    csms = csms_small_frames
    await csms.add_station("CP-BIG")
    await csms.add_station("CP-OK")
    async with open_socket(csms.url("CP-OK"), "ocpp1.6") as bystander:
        async with open_socket(csms.url("CP-BIG"), SUBPROTOCOL[version]) as ws:
            await _call(ws, "boot", "BootNotification", BOOT[version])
            await ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * 10_000}]))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
            assert ws.close_code == 1009
        await _still_usable(bystander)
    assert (await csms.station("CP-BIG"))["vendor"] == "V"
    async with open_socket(csms.url("CP-BIG"), SUBPROTOCOL[version]) as ws:  # it may come back at once
        await _still_usable(ws)
