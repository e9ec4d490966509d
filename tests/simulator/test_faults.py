"""Faults injected into simulated stations reach the CSMS as a real station would report them, in both versions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evscada.core.model import StationId
from evscada.simulator.faults import SYMPTOMS, FaultKind
from evscada.simulator.fleet import Fleet
from evscada.simulator.station import SimulatedStation, StationSpec, cancel_quietly
from tests.simulator.helpers import (
    LINKS,
    QUIET,
    SID,
    VERSIONS,
    connector_status,
    dial,
    ready,
    remote_start,
    running_transaction,
    send,
)
from tests.support import Csms, eventually

HARDWARE = [kind for kind in FaultKind if kind.hardware]


@pytest.fixture
async def fleet(csms_sqlite: Csms, request: pytest.FixtureRequest) -> AsyncIterator[Fleet]:
    """One simulated station of the test's version (on full links unless the test says) in a fleet, connected and
    booted."""
    csms = csms_sqlite
    await csms.add_station(SID)
    await csms.add_token("CARD-1")
    params = request.node.callspec.params
    spec = StationSpec(station_id=SID, version=params["version"], connectors=2)
    fleet = Fleet(csms.url(SID).rsplit("/", 1)[0], [spec], QUIET, dial=dial(params.get("links", "full")))
    task = asyncio.create_task(fleet.run())
    try:
        assert await eventually(lambda: ready(csms), timeout=20), "the simulated station never booted"
        yield fleet
    finally:
        await cancel_quietly(task)


async def _connector(csms: Csms, evse_id: int) -> dict[str, Any]:
    (row,) = await csms.rows("connectors", station_id=SID, evse_id=evse_id)
    return row


@VERSIONS
@pytest.mark.parametrize("kind", HARDWARE)
async def test_a_hardware_fault_shows_as_faulted_and_clears_to_available(
    csms_sqlite: Csms, fleet: Fleet, version: str, kind: FaultKind
) -> None:
    csms, station = csms_sqlite, fleet.station(SID)
    assert station.inject(kind, connector=None if kind is FaultKind.POWER_LOSS else 1)
    assert await connector_status(csms, 1, "Faulted")
    row = await _connector(csms, 1)
    symptom = SYMPTOMS[kind]
    if version == "1.6":
        assert row["error_code"] == symptom.error_code and row["info"] == symptom.info
    else:  # 2.0.1 says what went wrong in a NotifyEvent
        events = await eventually(lambda: csms.rows("station_messages", station_id=SID, kind="event"))
        (event,) = [e for e in events if e["payload"]["eventData"][0]["component"]["evse"]["id"] == 1]
        assert event["summary"] == f"{symptom.component}/{symptom.variable}=true"
        assert event["payload"]["eventData"][0]["techCode"] == symptom.error_code
    if kind is not FaultKind.POWER_LOSS:
        assert (await _connector(csms, 2))["status"] == "Available"  # the other connector is fine

    assert fleet.clear(kind) == [SID]
    assert await connector_status(csms, 1, "Available")
    assert (await _connector(csms, 1))["error_code"] in ("NoError", None)
    if version == "2.0.1":
        events = await csms.rows("station_messages", station_id=SID, kind="event")
        assert events[-1]["summary"].endswith("(cleared)")


@VERSIONS
@pytest.mark.parametrize(("kind", "reason"), [(FaultKind.POWER_LOSS, "PowerLoss"), (FaultKind.GROUND_FAILURE, None)])
async def test_a_fault_ends_the_running_session(
    csms_sqlite: Csms, fleet: Fleet, version: str, kind: FaultKind, reason: str | None
) -> None:
    csms = csms_sqlite
    await send(csms, remote_start())
    tx = await running_transaction(csms)
    fleet.station(SID).inject(kind, connector=1)

    async def ended() -> list[dict[str, Any]]:
        return await csms.rows("transactions", pk=tx["pk"], state="ended")

    (done,) = await eventually(ended)
    # 1.6 has no word for a ground fault: Other; 2.0.1 says GroundFault.
    expected = reason or ("Other" if version == "1.6" else "GroundFault")
    assert done["stop_reason"] == expected
    assert await connector_status(csms, 1, "Faulted")
    assert fleet.station(SID).connectors[1].free_for(None) is False  # nobody charges on a faulted connector


@VERSIONS
@pytest.mark.parametrize("links", LINKS)
@pytest.mark.parametrize("kind", [FaultKind.REBOOT, FaultKind.CONNECTION_DROP])
async def test_a_connection_lost_mid_transaction_loses_no_transaction_data(
    csms_sqlite: Csms, fleet: Fleet, version: str, links: str, kind: FaultKind
) -> None:
    csms, station = csms_sqlite, fleet.station(SID)
    await send(csms, remote_start())
    tx = await running_transaction(csms)
    before = await _station_row(csms, SID)
    assert station.inject(kind, duration=1.5)
    await asyncio.sleep(0.5)  # the station charges on, offline, and queues its meter values
    assert not station.uplink.online
    queued = len(station.uplink.queue)
    assert queued > 0
    if kind is FaultKind.CONNECTION_DROP:
        assert station.clear(kind)  # a drop can be ended early by hand
    assert await eventually(lambda: _reconnected(csms, SID, before), timeout=10)
    await asyncio.sleep(0.3)  # samples after the reconnect go live again
    session = station.connectors[1].session
    assert session is not None, "the session did not survive the drop"
    session.request_stop("Local")

    async def ended() -> list[dict[str, Any]]:
        return await csms.rows("transactions", pk=tx["pk"], state="ended")

    (done,) = await eventually(ended, timeout=10)
    assert done["stop_reason"] == "Local" and done["meter_stop"] > done["meter_start"]
    assert station.uplink.sent_offline >= queued and not station.uplink.queue
    samples = await csms.rows("meter_samples", transaction_pk=tx["pk"], measurand="Energy.Active.Import.Register")
    periodic = [s for s in samples if s["context"] not in ("Transaction.Begin", "Transaction.End")]
    assert len(periodic) == station.transaction_samples  # every sample, the queued ones included
    values = [s["value"] for s in sorted(periodic, key=lambda s: s["timestamp"])]
    assert values == sorted(values) and len(set(values)) == len(values)  # in order, none twice
    if version == "2.0.1":
        assert done["offline"]  # the queued TransactionEvents said offline=true


async def _station_row(csms: Csms, station_id: str) -> dict[str, Any]:
    (row,) = await csms.rows("stations", id=station_id)
    return row


async def _reconnected(csms: Csms, station_id: str, before: dict[str, Any], *, booted: bool = False) -> bool:
    """Online on a new connection (and, if asked, after a new BootNotification), as the CSMS records it."""
    row = await _station_row(csms, station_id)
    new_boot = row["last_boot"] is not None and row["last_boot"] > before["last_boot"]
    return bool(row["online"] and row["connected_since"] > before["connected_since"] and (new_boot or not booted))


@VERSIONS
async def test_a_reboot_of_the_communication_controller_boots_again_with_watchdog(
    csms_sqlite: Csms, fleet: Fleet, version: str
) -> None:
    station: SimulatedStation = fleet.station(SID)
    before = await _station_row(csms_sqlite, SID)
    assert station.inject(FaultKind.REBOOT, duration=0.2)
    assert await eventually(lambda: _reconnected(csms_sqlite, SID, before, booted=True), timeout=10)


async def test_a_reconnect_storm_drops_the_whole_fleet_at_once_and_every_station_comes_back(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    specs = [StationSpec(station_id=f"STORM-{n:02d}", version="2.0.1" if n % 2 else "1.6") for n in range(12)]
    for spec in specs:
        await csms.add_station(spec.station_id)
    fleet = Fleet(csms.url("x").rsplit("/", 1)[0], specs, QUIET)
    task = asyncio.create_task(fleet.run())

    async def online() -> bool:
        return sum(1 for row in await csms.rows("stations") if row["online"]) == len(specs)

    try:
        assert await eventually(online, timeout=10)
        before = {spec.station_id: await _station_row(csms, spec.station_id) for spec in specs}
        assert len(fleet.inject(FaultKind.CONNECTION_DROP, share=1.0, duration=1.0)) == len(specs)

        async def all_back() -> bool:
            return all([await _reconnected(csms, sid, row) for sid, row in before.items()])

        assert await eventually(all_back, timeout=20), "not every station came back on a new connection"
    finally:
        await cancel_quietly(task)


@VERSIONS
@pytest.mark.parametrize("links", LINKS)
async def test_connections_cut_by_the_csms_mid_transaction_lose_and_repeat_no_transaction_data(
    csms_sqlite: Csms, fleet: Fleet, version: str, links: str
) -> None:
    csms, station = csms_sqlite, fleet.station(SID)
    await send(csms, remote_start())
    tx = await running_transaction(csms)
    for _ in range(3):  # not the station's choice: whatever is on the wire at that moment is cut off
        before = await _station_row(csms, SID)
        gateway_session = csms.app.gateway.registry.get(StationId(SID))
        assert gateway_session is not None
        await gateway_session.close("test cuts the connection")
        assert await eventually(lambda before=before: _reconnected(csms, SID, before), timeout=10)
        await asyncio.sleep(0.3)
    session = station.connectors[1].session
    assert session is not None, "the session did not survive the cuts"
    session.request_stop("Local")

    async def ended() -> list[dict[str, Any]]:
        return await csms.rows("transactions", pk=tx["pk"], state="ended")

    assert await eventually(ended, timeout=10)
    samples = await csms.rows("meter_samples", transaction_pk=tx["pk"], measurand="Energy.Active.Import.Register")
    periodic = [s["value"] for s in samples if s["context"] not in ("Transaction.Begin", "Transaction.End")]
    assert len(periodic) == station.transaction_samples and len(set(periodic)) == len(periodic)
