"""Lean links say what full links say, and every kind of message they send is valid per the official schemas.

The lean path sends its payloads unchecked, so this runs a station of each kind through a scenario that makes it
say everything it can (a reserved remote start, meter values online and offline, every triggered message, a
fault and its recovery, a driver who authorizes, a connection drop; in 2.0.1 also an expired reservation and a
device model report), validates every CALL the gateway logged against the `ocpp` package's schemas, and compares
what each kind said: the same messages, with the same fields and the same words.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, validate_payload

from evscada.core.control import commands as c
from evscada.core.model import StationId
from evscada.gateway.session import StationSession
from evscada.simulator.faults import FaultKind
from evscada.simulator.fleet import Fleet
from evscada.simulator.station import StationSpec, cancel_quietly
from evscada.simulator.vehicles import CARS
from tests.conftest import start_csms, test_settings
from tests.simulator.helpers import (
    LINKS,
    QUIET,
    VERSIONS,
    connector_status,
    dial,
    ready,
    remote_start,
    running_transaction,
    send,
)
from tests.support import Csms, eventually

EVERY_KIND = {
    "1.6": {
        "BootNotification",
        "StatusNotification",
        "Heartbeat",
        "Authorize",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
    },
    "2.0.1": {
        "BootNotification",
        "StatusNotification",
        "Heartbeat",
        "Authorize",
        "TransactionEvent",
        "MeterValues",
        "NotifyEvent",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "ReservationStatusUpdate",
        "NotifyReport",
    },
}
# Fields whose values are words of the protocol (not times, ids or readings): they must match too.
WORDS = {
    "reason",
    "status",
    "connectorStatus",
    "errorCode",
    "eventType",
    "triggerReason",
    "chargingState",
    "stoppedReason",
    "offline",
    "measurand",
    "context",
    "unit",
    "phase",
    "location",
    "trigger",
    "techCode",
    "cleared",
    "reservationUpdateStatus",
}


@pytest.fixture
async def csms(sqlite_url: str) -> AsyncIterator[Csms]:
    """A CSMS that keeps every frame of a connection, not the last 100."""
    async for running in start_csms(test_settings(sqlite_url, frame_log_size=10_000)):
        yield running


def _shape(value: Any, path: str = "") -> set[str]:
    """Every field's path, and the value of those that are protocol words."""
    if isinstance(value, dict):
        return {p for key, item in value.items() for p in _shape(item, f"{path}.{key}" if path else key)}
    if isinstance(value, list):
        return {p for item in value for p in _shape(item, f"{path}[]")} or {f"{path}[]"}
    leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
    return {f"{path}={value}" if leaf in WORDS else path}


class Transcript:
    """The CALLs one station sent, over every connection it had, as the gateway logged them."""

    def __init__(self, csms: Csms, station_id: str) -> None:
        self.csms, self.station_id = csms, station_id
        self.sessions: list[StationSession] = []

    def note(self) -> None:
        """Remember the station's current connection (call after each reconnect)."""
        session = self.csms.app.gateway.registry.get(StationId(self.station_id))
        if session is not None and all(session is not s for s in self.sessions):
            self.sessions.append(session)

    def calls(self) -> list[list[Any]]:
        frames = (json.loads(text) for s in self.sessions for _, way, text in s.frames if way == "in")
        return [f for f in frames if isinstance(f, list) and f[0] == 2]


async def _say_everything(csms: Csms, station_id: str, version: str, links: str) -> list[list[Any]]:
    # One three-phase car behind both cards: a car drawn at random gave one station one phase and the other three.
    car = {f"{station_id}-A": CARS[0], f"{station_id}-B": CARS[0]}
    spec = StationSpec(station_id=station_id, version=version, connectors=2, serial=f"SN-{station_id}", vehicles=car)
    fleet = Fleet(csms.url(station_id).rsplit("/", 1)[0], [spec], QUIET, dial=dial(links))
    station, said = fleet.station(station_id), Transcript(csms, station_id)
    running = asyncio.create_task(fleet.run())
    try:
        assert await eventually(lambda: ready(csms, station_id), timeout=20)
        said.note()
        await _remote_session_with_a_fault(csms, station_id, fleet, f"{station_id}-A")
        for message in ("MeterValues", "Heartbeat", "FirmwareStatusNotification", "LogStatusNotification"):
            await send(
                csms, c.TriggerMessage(message=message, evse_id=2 if message == "MeterValues" else None), station_id
            )
        await send(csms, c.TriggerMessage(message="BootNotification"), station_id)
        await asyncio.sleep(0.2)
        # A driver who authorizes, and a connection that drops under the session: offline meter values.
        assert station.spawn(station.charge_once(2, f"{station_id}-B"), "driver")
        await running_transaction(csms, station_id)
        assert station.inject(FaultKind.CONNECTION_DROP, duration=0.6)
        await asyncio.sleep(0.4)
        assert await eventually(lambda: _ready_again(csms, station_id, said), timeout=10)
        await asyncio.sleep(0.3)
        session = station.connectors[2].session
        assert session is not None
        session.request_stop("Local")
        assert await connector_status(csms, 2, "Available", station_id)
        if version == "2.0.1":
            await _expired_reservation_and_report(csms, station_id, f"{station_id}-A")
        said.note()
        return said.calls()
    finally:
        await cancel_quietly(running)


async def _ready_again(csms: Csms, station_id: str, said: Transcript) -> bool:
    said.note()
    return len(said.sessions) > 1 and csms.app.gateway.registry.get(StationId(station_id)) is said.sessions[-1]


async def _reserve(csms: Csms, station_id: str, token: str, seconds: float) -> None:
    await csms.app.core.reservations.reserve(
        station_id=StationId(station_id),
        id_token=token,
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
        evse_id=1,
        actor="test",
    )
    assert await connector_status(csms, 1, "Reserved", station_id)


async def _remote_session_with_a_fault(csms: Csms, station_id: str, fleet: Fleet, token: str) -> None:
    """A reserved connector taken by its holder's remote start; then a ground failure ends it, and clears."""
    await _reserve(csms, station_id, token, 300)
    assert (await send(csms, remote_start(evse_id=1, token=token), station_id)).status == "Accepted"
    await running_transaction(csms, station_id)
    await send(csms, c.TriggerMessage(message="StatusNotification", evse_id=1), station_id)
    await asyncio.sleep(0.5)  # meter values
    assert fleet.station(station_id).inject(FaultKind.GROUND_FAILURE, connector=1)
    assert await connector_status(csms, 1, "Faulted", station_id)
    assert fleet.clear(FaultKind.GROUND_FAILURE, station=station_id)
    assert await connector_status(csms, 1, "Available", station_id)


async def _expired_reservation_and_report(csms: Csms, station_id: str, token: str) -> None:
    await _reserve(csms, station_id, token, 0.3)
    assert await connector_status(csms, 1, "Available", station_id)
    assert (await send(csms, c.GetBaseReport(base=c.ReportBase.FULL), station_id)).status == "Accepted"
    await asyncio.sleep(0.3)


@VERSIONS
async def test_lean_links_say_what_full_links_say_and_all_of_it_is_valid(csms: Csms, version: str) -> None:
    for links in LINKS:  # the two stations run at once: one card each per driver, or the second is ConcurrentTx
        await csms.add_station(f"SAY-{links}")
        await csms.add_token(f"SAY-{links}-A")
        await csms.add_token(f"SAY-{links}-B")
    async with asyncio.TaskGroup() as group:
        runs = {links: group.create_task(_say_everything(csms, f"SAY-{links}", version, links)) for links in LINKS}
    said = {links: run.result() for links, run in runs.items()}

    invalid = []
    for links, calls in said.items():
        for _, unique_id, action, payload in calls:
            try:
                await validate_payload(Call(unique_id, action, payload), version)
            except OCPPError as exc:
                invalid.append(f"{links} {action}: {exc.code} {exc.details.get('cause')}")
    assert not invalid
    for links, calls in said.items():
        assert {action for _, _, action, _ in calls} == EVERY_KIND[version], links
    shapes = {
        links: {
            action: set().union(*(_shape(p) for _, _, a, p in calls if a == action)) for action in EVERY_KIND[version]
        }
        for links, calls in said.items()
    }
    for action in EVERY_KIND[version]:
        assert shapes["lean"][action] == shapes["full"][action], action
