"""Nothing a station reports vanishes, and nothing is stored twice: a repeat is the same event again, an event that
differs is new whatever its seqNo, and a reading repeated at a transaction's end is stored once (issue 17: 1, 2)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.support import Csms, open_socket

T0, T1, T2, T3 = (f"2026-12-07T10:{minute:02d}:00Z" for minute in (0, 15, 30, 45))
CARD = {"idToken": "CARD-1", "type": "ISO14443"}
LOGGER = "evscada.core.charging.transactions"


async def _call(ws: ClientConnection, unique_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps([2, unique_id, action, payload]))
    answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert answer[:2] == [3, unique_id], answer
    return dict(answer[2])


def _register(at: str, wh: float, context: str = "Sample.Periodic") -> dict[str, Any]:
    value = {"value": wh, "measurand": "Energy.Active.Import.Register", "context": context}
    return {"timestamp": at, "sampledValue": [value]}


def _event(kind: str, at: str, trigger: str, *, tx: str = "TX-1", seq_no: int = 0, **fields: Any) -> dict[str, Any]:
    """A TransactionEvent; seqNo 0 unless told: what one independent station simulator sends every time."""
    info = {"transactionId": tx, **fields.pop("info", {})}
    event = {"eventType": kind, "timestamp": at, "triggerReason": trigger, "seqNo": seq_no, "transactionInfo": info}
    return event | fields


async def _samples(csms: Csms, pk: int) -> list[tuple[str, float, str | None]]:
    rows = await csms.rows("meter_samples", transaction_pk=pk)
    return sorted((row["timestamp"].isoformat(), row["value"], row["context"]) for row in rows)


async def test_a_station_sending_seq_no_0_every_time_has_every_event_kept(
    csms: Csms, caplog: pytest.LogCaptureFixture
) -> None:
    await csms.add_station("CP-SEQ0")
    await csms.add_station("CP-OTHER")
    await csms.add_token("CARD-1")
    started = _event("Started", T0, "Authorized", evse={"id": 1, "connectorId": 1}, idToken=CARD)
    started["meterValue"] = [_register(T0, 1000, "Transaction.Begin")]
    updated = _event("Updated", T1, "MeterValuePeriodic", info={"chargingState": "Charging"})
    updated["meterValue"] = [_register(T1, 1500)]
    ended = _event("Ended", T2, "EVDeparted", info={"stoppedReason": "EVDisconnected"})
    # The station repeats its Transaction.Begin reading in its Ended event: stored once all the same.
    ended["meterValue"] = [_register(T0, 1000, "Transaction.Begin"), _register(T2, 3500, "Transaction.End")]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        async with open_socket(csms.url("CP-SEQ0"), "ocpp2.0.1") as ws:
            assert (await _call(ws, "e1", "TransactionEvent", started))["idTokenInfo"]["status"] == "Accepted"
            assert await _call(ws, "e2", "TransactionEvent", updated) == {}
            assert await _call(ws, "e3", "TransactionEvent", ended) == {}
            assert await _call(ws, "e2-again", "TransactionEvent", updated) == {}  # a repeat: the same event again

    (tx,) = await csms.rows("transactions", station_id="CP-SEQ0")
    assert (tx["state"], tx["charging_state"], tx["stop_reason"]) == ("ended", "Charging", "EVDisconnected")
    assert (tx["meter_start"], tx["meter_stop"], tx["ended_at"].isoformat()) == (1000, 3500, T2.replace("Z", "+00:00"))
    assert await _samples(csms, tx["pk"]) == [
        ("2026-12-07T10:00:00+00:00", 1000.0, "Transaction.Begin"),
        ("2026-12-07T10:15:00+00:00", 1500.0, "Sample.Periodic"),
        ("2026-12-07T10:30:00+00:00", 3500.0, "Transaction.End"),
    ]
    assert len(await csms.rows("transaction_events", transaction_pk=tx["pk"])) == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(w.startswith("CP-SEQ0: ") and "(seqNo 0 after 0)" in w for w in warnings)

    # The session ended, so the token is free: another station may start with it.
    again = _event("Started", T3, "Authorized", tx="TX-B", evse={"id": 1, "connectorId": 1}, idToken=CARD)
    async with open_socket(csms.url("CP-OTHER"), "ocpp2.0.1") as ws:
        assert (await _call(ws, "b1", "TransactionEvent", again))["idTokenInfo"]["status"] == "Accepted"


async def test_a_station_that_numbers_its_transactions_again_gets_a_new_session(csms: Csms) -> None:
    """After a reset some stations count transaction ids from 1 again: a Started for an ended session that began at
    another time is a new session, and the old one keeps its data."""
    await csms.add_station("CP-RESET")
    await csms.add_token("CARD-1")
    first = _event("Started", T0, "Authorized", tx="1", evse={"id": 1, "connectorId": 1}, idToken=CARD)
    end = _event("Ended", T1, "EVDeparted", tx="1", seq_no=1, info={"stoppedReason": "EVDisconnected"})
    second = _event("Started", T2, "Authorized", tx="1", evse={"id": 1, "connectorId": 1}, idToken=CARD)
    async with open_socket(csms.url("CP-RESET"), "ocpp2.0.1") as ws:
        await _call(ws, "e1", "TransactionEvent", first)
        await _call(ws, "e2", "TransactionEvent", end)
    async with open_socket(csms.url("CP-RESET"), "ocpp2.0.1") as ws:  # rebooted
        assert (await _call(ws, "e1", "TransactionEvent", second))["idTokenInfo"]["status"] == "Accepted"
        assert (await _call(ws, "e1", "TransactionEvent", second))["idTokenInfo"]["status"] == "Accepted"  # repeat

    rows = sorted(await csms.rows("transactions", station_id="CP-RESET"), key=lambda row: row["pk"])
    assert [(r["state"], r["started_at"].isoformat()) for r in rows] == [
        ("ended", "2026-12-07T10:00:00+00:00"),
        ("running", "2026-12-07T10:30:00+00:00"),
    ]
    assert rows[1]["station_transaction_id"] == "1"  # the station's own id names its current session
    assert rows[0]["station_transaction_id"] == f"1/orphan-{rows[0]['pk']}"


async def test_a_1_6_stop_sent_again_is_a_repeat_and_a_different_one_is_kept(
    csms: Csms, caplog: pytest.LogCaptureFixture
) -> None:
    await csms.add_station("CP-STOP")
    await csms.add_token("CARD-1")
    start = {"connectorId": 1, "idTag": "CARD-1", "meterStart": 100, "timestamp": T0}
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        async with open_socket(csms.url("CP-STOP"), "ocpp1.6") as ws:
            tx_id = (await _call(ws, "s", "StartTransaction", start))["transactionId"]
            stop = {"transactionId": tx_id, "meterStop": 600, "timestamp": T1, "reason": "Local"}
            await _call(ws, "e1", "StopTransaction", stop)
            await _call(ws, "e2", "StopTransaction", stop)  # the same stop again: a repeat
            later = {**stop, "meterStop": 700, "timestamp": T2}
            later["transactionData"] = [{"timestamp": T2, "sampledValue": [{"value": "700", "context": "Other"}]}]
            await _call(ws, "e3", "StopTransaction", later)  # a different stop: the station's word, kept

    assert len(await csms.rows("transaction_events", transaction_pk=tx_id)) == 3
    assert await _samples(csms, tx_id) == [("2026-12-07T10:30:00+00:00", 700.0, "Other")]
    (warning,) = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert warning.startswith("CP-STOP: ") and "(a second end)" in warning


async def test_readings_a_1_6_stop_repeats_are_stored_once(csms: Csms) -> None:
    """transactionData often holds the readings already sent in MeterValues; one message may hold a value twice."""
    await csms.add_station("CP-DUP")
    await csms.add_token("CARD-1")
    reading = {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    voltage = {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "unit": "V"}
    async with open_socket(csms.url("CP-DUP"), "ocpp1.6") as ws:
        start = {"connectorId": 1, "idTag": "CARD-1", "meterStart": 1000, "timestamp": T0}
        tx_id = (await _call(ws, "s", "StartTransaction", start))["transactionId"]
        periodic = [{"timestamp": T1, "sampledValue": [reading, voltage, voltage]}]
        await _call(ws, "m", "MeterValues", {"connectorId": 1, "transactionId": tx_id, "meterValue": periodic})
        end = [*periodic, {"timestamp": T2, "sampledValue": [{**reading, "value": "2000"}]}]
        stop = {"transactionId": tx_id, "meterStop": 2000, "timestamp": T2, "transactionData": end}
        await _call(ws, "e", "StopTransaction", stop)

    assert await _samples(csms, tx_id) == [
        ("2026-12-07T10:15:00+00:00", 230.1, None),
        ("2026-12-07T10:15:00+00:00", 1500.0, None),
        ("2026-12-07T10:30:00+00:00", 2000.0, None),
    ]
