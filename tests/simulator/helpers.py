"""Shared by the simulator's tests: a quiet station of either version, and shortcuts to command it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evscada.core.control import commands as c
from evscada.core.model import IdToken, StationId
from evscada.simulator.links.dial import Dial, dial_ocpp
from evscada.simulator.links.lean_links import LeanDial
from evscada.simulator.load import Stats
from evscada.simulator.station import Timing
from tests.support import Csms, eventually

# Nothing starts by itself (idle for days); remote-started sessions run until stopped.
QUIET = Timing(meter_interval=0.2, idle_seconds=(1e6, 1e6), session_seconds=(60, 60), reboot_seconds=0.0)
SID = "SIM-CMD"
VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])
LINKS = ["full", "lean"]  # the ocpp package's client, or the load mode's lean socket


def dial(links: str) -> Dial:
    return dial_ocpp if links == "full" else LeanDial(Stats(stations=1))


async def ready(csms: Csms, station_id: str = SID) -> bool:
    if csms.app.gateway.registry.get(StationId(station_id)) is None:
        return False
    connectors = await csms.rows("connectors", station_id=station_id)
    return len(connectors) == 2 and all(row["status"] == "Available" for row in connectors)


async def send(csms: Csms, command: c.Command, station_id: str = SID) -> c.CommandOutcome:
    outcome = await csms.app.core.commands.send(station_id=StationId(station_id), command=command, actor="test")
    assert outcome.outcome == "answered", outcome.error
    return outcome


def remote_start(evse_id: int | None = 1, token: str = "CARD-1") -> c.RemoteStart:
    return c.RemoteStart(id_token=IdToken(token, "ISO14443"), evse_id=evse_id)


async def running_transaction(csms: Csms, station_id: str = SID) -> dict[str, Any]:
    async def running() -> list[dict[str, Any]]:
        return await csms.rows("transactions", station_id=station_id, state="running")

    (tx,) = await eventually(running, timeout=15)  # the station's StartTransaction; slow on a loaded machine
    return tx


async def connector_status(csms: Csms, evse_id: int, status: str, station_id: str = SID) -> bool:
    async def check() -> bool:
        (row,) = await csms.rows("connectors", station_id=station_id, evse_id=evse_id)
        return bool(row["status"] == status)

    return bool(await eventually(check))


async def raw_call(csms: Csms, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A CALL the core has no command for yet, straight through the station's gateway session."""
    session = csms.app.gateway.registry.get(StationId(SID))
    assert session is not None
    answer: dict[str, Any] = await session.call(action, payload)
    return answer


def frames_in(csms: Csms, action: str) -> list[list[Any]]:
    """The CALLs of this action the station sent on its current connection, as the gateway logged them."""
    session = csms.app.gateway.registry.get(StationId(SID))
    assert session is not None
    calls = [json.loads(text) for _, way, text in session.frames if way == "in" and f'"{action}"' in text]
    return [call for call in calls if call[0] == 2 and call[2] == action]


async def answer_to(csms: Csms, frame: str, unique_id: str, *, timeout: float = 2.0) -> list[Any] | None:
    """Send a frame the command service would never build (it checks what it sends) and return the station's
    answer to it, or None if none came. Reaches into the gateway session: nothing public sends a broken CALL."""
    session = csms.app.gateway.registry.get(StationId(SID))
    assert session is not None
    await session._send(frame)

    async def answered() -> list[Any] | None:
        for _, way, text in session.frames:
            message = json.loads(text) if way == "in" and unique_id in text else None
            if isinstance(message, list) and message[:2] in ([3, unique_id], [4, unique_id]):
                return message
        return None

    return await eventually(answered, timeout=timeout)  # type: ignore[no-any-return]
