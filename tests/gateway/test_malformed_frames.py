"""Nothing a station sends can crash the server: each bad frame gets the CALLERROR its version prescribes."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.support import Csms, open_socket

BOOT16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT201 = {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
STATUS16 = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}

# (frame as sent, 1.6 answer code, 2.0.1 answer code, unique id echoed)
FRAMES: list[tuple[str, str, str, str]] = [
    ("this is not json", "FormationViolation", "RpcFrameworkError", "-1"),
    ('{"an": "object"}', "FormationViolation", "RpcFrameworkError", "-1"),
    ("[]", "FormationViolation", "RpcFrameworkError", "-1"),
    ('[2, 17, "Heartbeat", {}]', "FormationViolation", "RpcFrameworkError", "-1"),
    ('[2, "m1", "Heartbeat"]', "ProtocolError", "RpcFrameworkError", "m1"),
    ('[2, "m2", "Heartbeat", []]', "ProtocolError", "RpcFrameworkError", "m2"),
    ('[9, "m3", "Heartbeat", {}]', "ProtocolError", "MessageTypeNotSupported", "m3"),
    ('[2, "m4", "FlyToTheMoon", {}]', "NotImplemented", "NotImplemented", "m4"),
    ('[2, "m5", "RemoteStartTransaction", {"idTag": "X"}]', "NotSupported", "NotImplemented", "m5"),
]

# (version, action, payload breaking the schema, expected code)
PAYLOADS: list[tuple[str, str, dict[str, Any], str]] = [
    ("1.6", "BootNotification", {"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
    ("1.6", "BootNotification", {**BOOT16, "chargePointModel": 5}, "TypeConstraintViolation"),
    ("1.6", "BootNotification", {**BOOT16, "chargePointModel": "M" * 21}, "TypeConstraintViolation"),
    ("1.6", "BootNotification", {**BOOT16, "colour": "red"}, "FormationViolation"),
    ("1.6", "StatusNotification", {**STATUS16, "status": "Sleeping"}, "PropertyConstraintViolation"),
    ("1.6", "StatusNotification", {**STATUS16, "timestamp": "yesterday"}, "TypeConstraintViolation"),
    ("2.0.1", "BootNotification", {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
    ("2.0.1", "BootNotification", {**BOOT201, "reason": "Bored"}, "PropertyConstraintViolation"),
    ("2.0.1", "BootNotification", {**BOOT201, "extra": 1}, "FormatViolation"),
    ("2.0.1", "Heartbeat", {"customData": "x"}, "TypeConstraintViolation"),
]


async def _exchange(ws: ClientConnection, frame: str | bytes) -> list[Any]:
    await ws.send(frame)
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    return answer


async def _still_works(ws: ClientConnection) -> None:
    answer = await _exchange(ws, '[2, "alive", "Heartbeat", {}]')
    assert answer[:2] == [3, "alive"] and answer[2]["currentTime"].endswith("Z")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize(("frame", "code16", "code201", "unique_id"), FRAMES, ids=[f[0][:24] for f in FRAMES])
async def test_a_broken_frame_gets_the_prescribed_callerror_and_the_connection_stays(
    csms_sqlite: Csms,
    caplog: pytest.LogCaptureFixture,
    version: str,
    frame: str,
    code16: str,
    code201: str,
    unique_id: str,
) -> None:
    await csms_sqlite.add_station("CP-BAD")
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    if frame.startswith('[2, "m5"') and version == "2.0.1":
        code201 = "NotImplemented"  # 2.0.1 has no RemoteStartTransaction at all
    with caplog.at_level(logging.WARNING, logger="evscada.frames"):
        async with open_socket(csms_sqlite.url("CP-BAD"), subprotocol) as ws:
            answer = await _exchange(ws, frame)
            assert answer[0] == 4 and answer[1] == unique_id
            assert answer[2] == (code16 if version == "1.6" else code201)
            assert answer[3]  # a description says what is wrong
            await _still_works(ws)
    if answer[2] not in ("NotImplemented", "NotSupported"):
        assert frame[:20] in caplog.text  # the raw frame is logged for the vendor


@pytest.mark.parametrize(
    ("version", "action", "payload", "code"), PAYLOADS, ids=[f"{p[0]}-{p[1]}-{p[3]}" for p in PAYLOADS]
)
async def test_a_payload_breaking_the_schema_is_refused_with_the_right_code(
    csms_sqlite: Csms,
    caplog: pytest.LogCaptureFixture,
    version: str,
    action: str,
    payload: dict[str, Any],
    code: str,
) -> None:
    await csms_sqlite.add_station("CP-BAD")
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    frame = json.dumps([2, "bad-1", action, payload])
    with caplog.at_level(logging.WARNING, logger="evscada.frames"):
        async with open_socket(csms_sqlite.url("CP-BAD"), subprotocol) as ws:
            answer = await _exchange(ws, frame)
            await _still_works(ws)
    assert answer[:3] == [4, "bad-1", code]
    assert "bad-1" in caplog.text


async def test_bad_frames_do_not_lose_what_was_stored(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    await csms.add_station("CP-BAD")
    async with open_socket(csms.url("CP-BAD"), "ocpp1.6") as ws:
        assert (await _exchange(ws, json.dumps([2, "b1", "BootNotification", BOOT16])))[0] == 3
        for frame in ("garbage", "[2]", '[2, "x", "StatusNotification", {"connectorId": "one"}]', b"\x00\xff"):
            assert (await _exchange(ws, frame))[0] == 4
        await _still_works(ws)
    station = await csms.station("CP-BAD")
    assert station["vendor"] == "V"


async def test_a_negative_1_6_connector_id_is_a_property_violation(csms_sqlite: Csms) -> None:
    await csms_sqlite.add_station("CP-NEG")
    async with open_socket(csms_sqlite.url("CP-NEG"), "ocpp1.6") as ws:
        answer = await _exchange(ws, json.dumps([2, "neg", "StatusNotification", {**STATUS16, "connectorId": -1}]))
        await _still_works(ws)
    assert answer[:3] == [4, "neg", "PropertyConstraintViolation"] and "negative" in answer[3]
    assert await csms_sqlite.rows("connectors", station_id="CP-NEG") == []
