"""A station's answers to the CSMS's commands are things a station sends too: at their fullest (every field, longest
strings) and at their sparsest (required fields only), each is taken, logged and stored without a fault."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import ClientConnection

from evscada.core.control import commands as c
from evscada.core.errors import CommandNotSupported
from evscada.core.model import IdToken, StationId
from tests.schema_payloads import fullest_payload, sparsest_payload
from tests.support import BOOT, Csms, exchange, open_socket

SID = "CP-ANSWERS"
SCHEMAS = {"ocpp1.6": ("ocpp.v16.schemas", "Response"), "ocpp2.0.1": ("ocpp.v201.schemas", "Response")}


def _commands() -> list[c.Command]:
    soon = datetime.now(UTC) + timedelta(hours=1)
    card = IdToken("CARD-1", "ISO14443")
    return [
        c.RemoteStart(id_token=card, evse_id=1),
        c.RemoteStop(station_transaction_id="1"),
        c.ChangeAvailability(operative=False, evse_id=1, connector_id=1),
        c.Reset(),
        c.UnlockConnector(evse_id=1),
        c.ClearCache(),
        c.TriggerMessage(message="StatusNotification", evse_id=1),
        c.DataTransfer(vendor_id="ACME", message_id="m", data="x"),
        c.GetSettings(settings=(c.SettingRef("HeartbeatInterval", component="OCPPCommCtrlr"),)),
        c.GetSettings(),
        c.ChangeSetting(setting=c.SettingRef("HeartbeatInterval", component="OCPPCommCtrlr"), value="60"),
        c.SendLocalList(version=2, full=True, entries=(c.LocalListEntry("CARD-1"),)),
        c.GetLocalListVersion(),
        c.ReserveNow(reservation_id=7, id_token=card, expires_at=soon, evse_id=1),
        c.CancelReservation(reservation_id=7),
        c.GetBaseReport(),
        c.GetReport(items=(c.ComponentVariableRef("EVSE", evse_id=1),)),
    ]


async def _answer_every_call(ws: ClientConnection, version: str, kind: str) -> None:
    """The station: answers each CALL of the CSMS with that action's fullest or sparsest response."""
    package, suffix = SCHEMAS[version]
    async for text in ws:
        frame = json.loads(text)
        if frame[0] != 2:
            continue
        action = frame[2]
        name = f"{action}{suffix}"
        payload = fullest_payload(package, name) if kind == "fullest" else sparsest_payload(package, name)
        await ws.send(json.dumps([3, frame[1], payload]))


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("kind", ["fullest", "sparsest"])
async def test_every_command_answered_at_the_extremes_is_taken_without_a_fault(
    csms: Csms, version: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    await csms.add_station(SID)
    outcomes: list[tuple[str, str]] = []
    async with open_socket(csms.url(SID), version) as ws:
        assert (await exchange(ws, [2, "boot", "BootNotification", BOOT[version]]))[0] == 3
        station = asyncio.create_task(_answer_every_call(ws, version, kind))
        try:
            for command in _commands():
                try:
                    outcome = await csms.app.core.commands.send(
                        station_id=StationId(SID), command=command, actor="test"
                    )
                    outcomes.append((command.name, str(outcome.outcome)))
                except CommandNotSupported:
                    outcomes.append((command.name, "not supported by this version"))
        finally:
            station.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await station
    assert [(name, o) for name, o in outcomes if o not in ("answered", "not supported by this version")] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    answered = await csms.rows("command_log", station_id=SID, outcome="answered")
    assert len(answered) == [o for _, o in outcomes].count("answered") >= 15
    assert [row["command"] for row in answered if not row["status"]] == []  # what the station said is kept


async def test_an_answer_the_csms_cannot_read_fails_its_command_not_the_server(
    csms_sqlite: Csms, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A mapping bug met by an answer that passed its schema: the command ends as an unreadable answer, logged."""
    from evscada.gateway.ocpp16 import commands as commands16

    def broken(command: c.Command, payload: dict[str, object]) -> c.CommandReply:
        raise KeyError("a field the mapping expected")

    monkeypatch.setattr(commands16, "plain_reply", broken)  # what 1.6 reads a ClearCache answer with
    await csms_sqlite.add_station(SID)
    async with open_socket(csms_sqlite.url(SID), "ocpp1.6") as ws:
        assert (await exchange(ws, [2, "boot", "BootNotification", BOOT["ocpp1.6"]]))[0] == 3
        station = asyncio.create_task(_answer_every_call(ws, "ocpp1.6", "sparsest"))
        try:
            outcome = await csms_sqlite.app.core.commands.send(
                station_id=StationId(SID), command=c.ClearCache(), actor="test"
            )
        finally:
            station.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await station
    assert (outcome.outcome, outcome.status) == ("call_error", "InvalidResponse")
    assert "could not read the station's ClearCache answer" in (outcome.error or "")
    assert "reading the ClearCache answer failed" in caplog.text
