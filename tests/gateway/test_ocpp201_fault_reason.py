"""A 2.0.1 connector's fault reason: StatusNotification says Faulted, NotifyEvent says why; the connector's state gets
the reason as 1.6's errorCode and info give it, in either order, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.v201 import call as call201

from evscada.simulator.faults import SYMPTOMS, FaultKind
from evscada.simulator.fleet import Fleet
from evscada.simulator.station import StationSpec, cancel_quietly
from tests.simulator.helpers import QUIET, SID, connector_status, ready
from tests.support import Csms, eventually, station201


@pytest.fixture
async def fleet(csms_sqlite: Csms) -> AsyncIterator[Fleet]:
    """One simulated 2.0.1 station with two connectors, connected and booted."""
    await csms_sqlite.add_station(SID)
    spec = StationSpec(station_id=SID, version="2.0.1", connectors=2)
    fleet = Fleet(csms_sqlite.url(SID).rsplit("/", 1)[0], [spec], QUIET)
    task = asyncio.create_task(fleet.run())
    try:
        assert await eventually(lambda: ready(csms_sqlite), timeout=20), "the simulated station never booted"
        yield fleet
    finally:
        await cancel_quietly(task)


async def _connector(csms: Csms, station_id: str, evse_id: int) -> dict[str, Any]:
    (row,) = await csms.rows("connectors", station_id=station_id, evse_id=evse_id)
    return row


@pytest.mark.parametrize("kind", [FaultKind.GROUND_FAILURE, FaultKind.OVER_TEMPERATURE])
async def test_a_simulated_201_fault_is_recorded_with_its_reason_and_cleared_with_it(
    csms_sqlite: Csms, fleet: Fleet, kind: FaultKind
) -> None:
    csms, symptom = csms_sqlite, SYMPTOMS[kind]
    assert fleet.station(SID).inject(kind, connector=1)
    assert await connector_status(csms, 1, "Faulted")

    async def with_reason() -> dict[str, Any] | None:
        row = await _connector(csms, SID, 1)
        return row if row["error_code"] else None

    row = await eventually(with_reason)
    assert row is not None, await _connector(csms, SID, 1)
    assert (row["error_code"], row["info"]) == (symptom.error_code, symptom.info)  # as 1.6 reports it
    assert (await _connector(csms, SID, 2))["error_code"] is None  # the other connector is fine

    async def fault_alarm() -> list[dict[str, Any]]:
        return [a for a in await csms.rows("alarms", source="station_fault") if a["state"] == "active"]

    (alarm,) = await eventually(fault_alarm)
    assert alarm["key"].endswith(f":1/1:{symptom.error_code}")  # ranked as the 1.6 fault is (GroundFailure: P1)

    assert fleet.clear(kind) == [SID]
    assert await connector_status(csms, 1, "Available")
    row = await _connector(csms, SID, 1)
    assert (row["error_code"], row["info"]) == (None, None)


async def test_a_reason_that_comes_after_the_faulted_status_reaches_the_connector(csms_sqlite: Csms) -> None:
    csms = csms_sqlite
    await csms.add_station("CS-201")
    now = datetime.now(UTC).isoformat()
    async with station201(csms, "CS-201") as cs:
        await cs.call(call201.StatusNotification(timestamp=now, connector_status="Faulted", evse_id=2, connector_id=1))
        assert (await _connector(csms, "CS-201", 2))["error_code"] is None
        event = {
            "eventId": 7,
            "timestamp": now,
            "trigger": "Delta",
            "actualValue": "Faulted",
            "techInfo": "contactor welded",
            "eventNotificationType": "HardWiredNotification",
            "component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
            "variable": {"name": "AvailabilityState"},
        }
        await cs.call(call201.NotifyEvent(generated_at=now, seq_no=0, event_data=[event]))

        async def with_reason() -> dict[str, Any] | None:
            row = await _connector(csms, "CS-201", 2)
            return row if row["info"] else None

        row = await eventually(with_reason)
        assert row is not None
        assert (row["status"], row["error_code"], row["info"]) == ("Faulted", None, "contactor welded")
        # A later status without a fault drops the reason.
        await cs.call(
            call201.StatusNotification(timestamp=now, connector_status="Available", evse_id=2, connector_id=1)
        )
        assert await eventually(lambda: _info_gone(csms))


async def _info_gone(csms: Csms) -> bool:
    return (await _connector(csms, "CS-201", 2))["info"] is None
