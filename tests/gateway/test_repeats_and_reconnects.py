"""Stations reconnect, replace their own connections and re-send what they got no answer for:
the station's state stays right, and nothing is stored twice or lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.support import Csms, eventually, open_socket

T0 = "2026-11-25T08:00:00Z"
T1 = "2026-11-25T09:00:00Z"
METER16 = {
    "connectorId": 1,
    "meterValue": [
        {"timestamp": T0, "sampledValue": [{"value": "1234", "measurand": "Energy.Active.Import.Register"}]}
    ],
}
METER201 = {
    "evseId": 1,
    "meterValue": [{"timestamp": T0, "sampledValue": [{"value": 1234, "measurand": "Energy.Active.Import.Register"}]}],
}
START = {"connectorId": 1, "idTag": "CARD", "meterStart": 100, "timestamp": T0}


async def _call(ws: ClientConnection, unique_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert answer[:2] == [3, unique_id], answer
    return dict(answer[2])


async def _online(csms: Csms, station_id: str) -> bool:
    return bool((await csms.station(station_id))["online"])


async def _offline(csms: Csms, station_id: str) -> bool:
    return not await _online(csms, station_id)


async def _wait_closed(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 30)


# ---- connection state --------------------------------------------------------------------------------------------


async def test_a_second_connection_replaces_the_first_and_the_station_stays_online(csms: Csms) -> None:
    await csms.add_station("CP-R")
    async with open_socket(csms.url("CP-R"), "ocpp1.6") as first:
        await _call(first, "h1", "Heartbeat", {})
        async with open_socket(csms.url("CP-R"), "ocpp1.6") as second:
            await _wait_closed(first)
            assert first.close_code == 1000 and "replaced" in (first.close_reason or "")
            assert (await _call(second, "h2", "Heartbeat", {}))["currentTime"]
            await asyncio.sleep(0.2)  # the old session's clean-up has long run by now
            station = await csms.station("CP-R")
            assert station["online"] is True and station["disconnect_reason"] is None
    assert await eventually(lambda: _offline(csms, "CP-R"))


async def test_a_replacement_is_served_at_once_even_when_the_old_link_is_dead(csms_sqlite: Csms) -> None:
    # A station reconnects because its old link died; the dead peer never answers the server's close.
    await csms_sqlite.add_station("CP-R")
    async with open_socket(csms_sqlite.url("CP-R"), "ocpp1.6") as first:
        await _call(first, "h1", "Heartbeat", {})
        first.transport.pause_reading()  # deaf from now on: the close handshake never completes
        async with open_socket(csms_sqlite.url("CP-R"), "ocpp1.6") as second:
            began = time.monotonic()
            assert (
                await _call(second, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            )["status"] == "Accepted"
            assert time.monotonic() - began < 2  # not after the 10 s close timeout of the old connection
            assert await _online(csms_sqlite, "CP-R")
        first.transport.resume_reading()


async def test_disconnecting_sets_the_station_offline_with_a_reason(csms: Csms) -> None:
    await csms.add_station("CP-R")
    async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
        await _call(ws, "h", "Heartbeat", {})
        assert await _online(csms, "CP-R")
    assert await eventually(lambda: _offline(csms, "CP-R"))
    station = await csms.station("CP-R")
    assert station["disconnect_reason"].startswith("closed with code 1000")
    assert station["ocpp_version"] is None or station["ocpp_version"] == "1.6"


async def test_an_abnormal_disconnect_is_recorded_with_its_code(csms_sqlite: Csms) -> None:
    await csms_sqlite.add_station("CP-R")
    async with open_socket(csms_sqlite.url("CP-R"), "ocpp1.6") as ws:
        await _call(ws, "h", "Heartbeat", {})
        ws.transport.abort()  # power cut: no close frame
    assert await eventually(lambda: _offline(csms_sqlite, "CP-R"))
    assert "1006" in (await csms_sqlite.station("CP-R"))["disconnect_reason"]


async def test_a_station_that_reconnects_is_online_again(csms_sqlite: Csms) -> None:
    await csms_sqlite.add_station("CP-R")
    for round_ in range(3):
        async with open_socket(csms_sqlite.url("CP-R"), "ocpp1.6") as ws:
            await _call(ws, f"h{round_}", "Heartbeat", {})
            station = await csms_sqlite.station("CP-R")
            assert station["online"] is True and station["disconnect_reason"] is None
        assert await eventually(lambda: _offline(csms_sqlite, "CP-R"))


# ---- repeated messages -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("subprotocol", "payload"), [("ocpp1.6", METER16), ("ocpp2.0.1", METER201)])
async def test_the_same_meter_values_frame_sent_again_after_a_reconnect_is_stored_once(
    csms: Csms, subprotocol: str, payload: dict[str, Any]
) -> None:
    await csms.add_station("CP-R")
    for _ in range(2):  # the station got no answer the first time and re-sends the same frame
        async with open_socket(csms.url("CP-R"), subprotocol) as ws:
            await _call(ws, "mv-1", "MeterValues", payload)
    (sample,) = await csms.rows("meter_samples", station_id="CP-R")
    assert sample["value"] == 1234.0
    async with open_socket(csms.url("CP-R"), subprotocol) as ws:  # a new message with the same values is new data
        await _call(ws, "mv-2", "MeterValues", payload)
    assert len(await csms.rows("meter_samples", station_id="CP-R")) == 2


async def test_a_start_transaction_repeated_after_a_reconnect_returns_the_same_id(csms: Csms) -> None:
    await csms.add_station("CP-R")
    await csms.add_token("CARD")
    answers = []
    for unique_id in ("s-1", "s-2"):
        async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
            answers.append(await _call(ws, unique_id, "StartTransaction", START))
    assert answers[0] == answers[1]  # same transactionId, same idTagInfo (Accepted)
    assert answers[1]["idTagInfo"]["status"] == "Accepted"
    (tx,) = await csms.rows("transactions", station_id="CP-R")
    assert (tx["pk"], tx["state"], tx["meter_start"]) == (answers[0]["transactionId"], "running", 100)


async def test_a_stop_transaction_repeated_after_a_reconnect_is_stored_once(csms: Csms) -> None:
    await csms.add_station("CP-R")
    await csms.add_token("CARD")
    async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
        tx_id = (await _call(ws, "s", "StartTransaction", START))["transactionId"]
    stop = {
        "transactionId": tx_id,
        "idTag": "CARD",
        "meterStop": 600,
        "timestamp": T1,
        "reason": "EVDisconnected",
        "transactionData": METER16["meterValue"],
    }
    answers = []
    for _ in range(2):
        async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
            answers.append(await _call(ws, "e-1", "StopTransaction", stop))
    (tx,) = await csms.rows("transactions", station_id="CP-R")
    assert (tx["state"], tx["meter_stop"], tx["stop_reason"]) == ("ended", 600, "EVDisconnected")
    assert len(await csms.rows("meter_samples", transaction_pk=tx_id)) == 1
    assert answers[0]["idTagInfo"]["status"] == "Accepted"


async def test_a_stop_for_a_transaction_never_seen_starting_is_recorded(csms: Csms) -> None:
    await csms.add_station("CP-R")
    stop = {"transactionId": 4242, "meterStop": 900, "timestamp": T1, "reason": "PowerLoss"}
    for unique_id in ("e-1", "e-2"):  # and its repeat is not a second row
        async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
            assert await _call(ws, unique_id, "StopTransaction", stop) == {}
    (tx,) = await csms.rows("transactions", station_id="CP-R")
    assert (tx["station_transaction_id"], tx["state"], tx["started_at"]) == ("4242", "ended", None)
    assert (tx["meter_stop"], tx["stop_reason"]) == (900, "PowerLoss")


async def test_a_stop_never_seen_starting_does_not_block_the_stations_next_start(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    await csms.add_station("CP-R")
    await csms.add_token("CARD")
    async with open_socket(csms.url("CP-R"), "ocpp1.6") as ws:
        # e.g. a transaction from before the station was moved to this CSMS; its id is a future pk here
        await _call(ws, "e", "StopTransaction", {"transactionId": 2, "meterStop": 5, "timestamp": T0})
        started = await _call(ws, "s", "StartTransaction", {**START, "timestamp": T1})
        assert started["idTagInfo"]["status"] == "Accepted"
        stop = {"transactionId": started["transactionId"], "meterStop": 900, "timestamp": T1}
        assert await _call(ws, "e2", "StopTransaction", stop) == {}
    rows = {row["pk"]: row for row in await csms.rows("transactions", station_id="CP-R")}
    new = rows[started["transactionId"]]
    assert (new["station_transaction_id"], new["state"], new["meter_stop"]) == (str(new["pk"]), "ended", 900)
    (orphan,) = [row for pk, row in rows.items() if pk != new["pk"]]
    assert orphan["meter_stop"] == 5 and orphan["started_at"] is None  # still recorded, under a freed number
