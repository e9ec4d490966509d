"""A 1.6 start is linked to the remote start it answers whatever the order of the station's two messages: the start
sent before the station answers the command, or at once after (issue 17: 5)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from evscada.core.control import commands as c
from evscada.core.control.commands import CommandOutcome
from evscada.core.model import IdToken, StationId
from tests.support import Csms, open_socket, until_connected

START = {"connectorId": 1, "idTag": "CARD-1", "meterStart": 0, "timestamp": "2026-12-07T10:00:00Z"}


async def _remote_start_answered(csms: Csms, ws: ClientConnection, order: str, status: str) -> CommandOutcome:
    """Send a remote start; the station answers it with `status` and sends StartTransaction in the given order."""
    sending = asyncio.create_task(
        csms.app.core.commands.send(
            station_id=StationId("CP-RS"), command=c.RemoteStart(id_token=IdToken("CARD-1"), evse_id=1), actor="ops"
        )
    )
    request = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert request[2] == "RemoteStartTransaction"
    answer = json.dumps([3, request[1], {"status": status}])
    start = json.dumps([2, "start-1", "StartTransaction", START])
    if order == "start before the answer":
        await ws.send(start)
        started: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))  # stored and answered
        await ws.send(answer)
    else:
        await ws.send(answer)
        await ws.send(start)  # at once: the CSMS may not have stored the answer yet
        started = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert started[:2] == [3, "start-1"] and started[2]["idTagInfo"]["status"] == "Accepted"
    return await sending


@pytest.mark.parametrize("order", ["start before the answer", "start right after the answer"])
async def test_a_start_is_linked_to_the_remote_start_whatever_the_order(csms: Csms, order: str) -> None:
    await csms.add_station("CP-RS")
    await csms.add_token("CARD-1")
    async with open_socket(csms.url("CP-RS"), "ocpp1.6") as ws:
        await until_connected(csms, "CP-RS")
        outcome = await _remote_start_answered(csms, ws, order, "Accepted")
    (tx,) = await csms.rows("transactions", station_id="CP-RS")
    assert tx["remote_start_command_id"] == outcome.command_id


async def test_a_start_gives_up_its_link_to_a_remote_start_the_station_then_rejects(csms: Csms) -> None:
    await csms.add_station("CP-RS")
    await csms.add_token("CARD-1")
    async with open_socket(csms.url("CP-RS"), "ocpp1.6") as ws:
        await until_connected(csms, "CP-RS")
        outcome = await _remote_start_answered(csms, ws, "start before the answer", "Rejected")
    assert outcome.status == "Rejected"
    (tx,) = await csms.rows("transactions", station_id="CP-RS")
    assert tx["remote_start_command_id"] is None  # the card was used at the station, not the command
