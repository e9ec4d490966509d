"""Stations reconnect and re-send what they got no answer for; nothing is stored twice or lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.support import Csms, eventually, open_socket

T0 = "2026-11-25T08:00:00Z"
METER = {
    "connectorId": 1,
    "meterValue": [
        {"timestamp": T0, "sampledValue": [{"value": "1234", "measurand": "Energy.Active.Import.Register"}]}
    ],
}


async def _call(ws: Any, unique_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert answer[0] == 3, answer
    return dict(answer[2])


async def test_a_second_connection_replaces_the_first_and_the_station_stays_online(csms: Csms) -> None:
    await csms.add_station("CP-R")
    async with open_socket(csms.url("CP-R"), "ocpp1.6") as first:
        await eventually(lambda: _online(csms, "CP-R"))
        async with open_socket(csms.url("CP-R"), "ocpp1.6") as second:
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait_for(first.recv(), 5)
            assert first.close_code == 1000 and "replaced" in (first.close_reason or "")
            assert (await _call(second, "h", "Heartbeat", {}))["currentTime"]
            await asyncio.sleep(0.1)  # the old session's clean-up has run by now
            assert (await csms.station("CP-R"))["online"] is True
    assert await eventually(lambda: _offline(csms, "CP-R"))
    station = await csms.station("CP-R")
    assert station["disconnect_reason"].startswith("closed with code 1000")


async def _online(csms: Csms, station_id: str) -> bool:
    return bool((await csms.station(station_id))["online"])


async def _offline(csms: Csms, station_id: str) -> bool:
    return not (await csms.station(station_id))["online"]


async def test_the_same_meter_values_frame_sent_again_after_a_reconnect_is_stored_once(csms: Csms) -> None:
    await csms.add_station("CP-R")
    for _ in range(2):
        async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
            await _call(ws, "mv-1", "MeterValues", METER)
    assert len(await csms.rows("meter_samples", station_id="CP-R")) == 1
    async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:  # a new message with the same values is new data
        await _call(ws, "mv-2", "MeterValues", METER)
    assert len(await csms.rows("meter_samples", station_id="CP-R")) == 2


async def test_a_start_transaction_repeated_after_a_reconnect_returns_the_same_id(csms: Csms) -> None:
    await csms.add_station("CP-R")
    await csms.add_token("CARD")
    start = {"connectorId": 1, "idTag": "CARD", "meterStart": 100, "timestamp": T0}
    answers = []
    for unique_id in ("s-1", "s-2"):  # the station did not get the first answer and sends it again
        async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
            answers.append(await _call(ws, unique_id, "StartTransaction", start))
    assert answers[0]["transactionId"] == answers[1]["transactionId"]
    assert answers[1]["idTagInfo"]["status"] == "Accepted"
    assert len(await csms.rows("transactions", station_id="CP-R")) == 1


async def test_a_stop_transaction_repeated_is_stored_once(csms: Csms) -> None:
    await csms.add_station("CP-R")
    async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
        started = await _call(
            ws, "s", "StartTransaction", {"connectorId": 1, "idTag": "CARD", "meterStart": 0, "timestamp": T0}
        )
        stop = {
            "transactionId": started["transactionId"],
            "meterStop": 500,
            "timestamp": "2026-11-25T09:00:00Z",
            "transactionData": METER["meterValue"],
        }
        await _call(ws, "e-1", "StopTransaction", stop)
        await _call(ws, "e-2", "StopTransaction", stop)
    (tx,) = await csms.rows("transactions", station_id="CP-R")
    assert (tx["state"], tx["meter_stop"], tx["stop_reason"]) == ("ended", 500, "Local")
    assert len(await csms.rows("meter_samples", transaction_pk=tx["pk"])) == 1


async def test_a_stop_for_a_transaction_never_seen_starting_is_recorded(csms: Csms) -> None:
    await csms.add_station("CP-R")
    async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
        await _call(
            ws,
            "e",
            "StopTransaction",
            {"transactionId": 4242, "meterStop": 900, "timestamp": T0, "reason": "PowerLoss"},
        )
    (tx,) = await csms.rows("transactions", station_id="CP-R")
    assert (tx["station_transaction_id"], tx["state"], tx["started_at"]) == ("4242", "ended", None)
    assert (tx["meter_stop"], tx["stop_reason"]) == (900, "PowerLoss")
