"""The simulated stations against the CSMS's local-list, reservation and report services (both ends ours)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evscada.core.control import commands as c
from evscada.core.model import StationId
from evscada.core.stations.device_model import DeviceModelFilter
from evscada.simulator.station import StationSpec
from tests.simulator.helpers import SID, VERSIONS, connector_status, remote_start, running_transaction, send
from tests.support import Csms, eventually


@VERSIONS
async def test_the_station_keeps_the_list_version_the_csms_sends(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    lists = csms_sqlite.app.core.local_lists
    full = await lists.send(station_id=StationId(SID), full=True, actor="test")
    await csms_sqlite.add_token("CARD-3")
    diff = await lists.send(station_id=StationId(SID), full=False, actor="test")
    assert (full.accepted, diff.accepted, diff.updated, diff.removed) == (True, True, 1, 0)
    asked = await lists.read_version(station_id=StationId(SID), actor="test")
    state = await lists.state(station_id=StationId(SID))
    assert asked.data["version"] == 2 == diff.state.version == state.reported_version
    assert state.entries == 3  # CARD-1, CARD-2 and CARD-3


@VERSIONS
async def test_a_reserved_connector_is_used_by_its_holder_s_transaction(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    sent = await csms.app.core.reservations.reserve(
        station_id=StationId(SID),
        id_token="CARD-2",
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
        evse_id=1,
        actor="test",
    )
    assert sent.reservation.status == "accepted"
    assert await connector_status(csms, 1, "Reserved")
    assert (await send(csms, remote_start(evse_id=1, token="CARD-1"))).status == "Rejected"
    assert (await send(csms, remote_start(evse_id=1, token="CARD-2"))).status == "Accepted"
    tx = await running_transaction(csms)
    assert tx["reservation_id"] == sent.reservation.id
    used = await csms.app.core.reservations.get(reservation_id=sent.reservation.id)
    assert (used.status, used.transaction_pk) == ("used", tx["pk"])


@VERSIONS
async def test_an_expired_reservation_frees_the_connector_and_ends_here(
    csms_sqlite: Csms, station: StationSpec, version: str
) -> None:
    csms = csms_sqlite
    sent = await csms.app.core.reservations.reserve(
        station_id=StationId(SID),
        id_token="CARD-2",
        expires_at=datetime.now(UTC) + timedelta(seconds=0.5),
        evse_id=1,
        actor="test",
    )
    assert await connector_status(csms, 1, "Reserved")
    assert await connector_status(csms, 1, "Available")
    if version == "2.0.1":  # the station says so (ReservationStatusUpdate), before anyone reads it

        async def stored_expired() -> bool:
            (row,) = await csms.rows("reservations", id=sent.reservation.id)
            return bool(row["status"] == "expired")

        assert await eventually(stored_expired)
    assert (await csms.app.core.reservations.get(reservation_id=sent.reservation.id)).status == "expired"


@pytest.mark.parametrize("version", ["2.0.1"])
async def test_a_2_0_1_station_reports_its_device_model(csms_sqlite: Csms, station: StationSpec, version: str) -> None:
    csms = csms_sqlite
    model = csms.app.core.device_model
    outcome = await send(csms, c.GetBaseReport(base=c.ReportBase.FULL))
    assert outcome.status == "Accepted"

    async def reported() -> list[object]:
        return await model.variables(station_id=StationId(SID), where=DeviceModelFilter())  # type: ignore[return-value]

    assert await eventually(reported)
    variables = await model.variables(station_id=StationId(SID), where=DeviceModelFilter())
    by_name = {(v.component, v.evse_id, v.variable): v for v in variables}
    heartbeat = by_name["OCPPCommCtrlr", None, "HeartbeatInterval"]
    assert (heartbeat.value, heartbeat.mutability, heartbeat.data_type) == ("60", "ReadWrite", "integer")
    assert heartbeat.request_id == outcome.command_id
    assert by_name["EVSE", 2, "AvailabilityState"].value == "Available"
    assert by_name["DeviceDataCtrlr", None, "ItemsPerMessage"].mutability == "ReadOnly"

    one = await send(csms, c.GetReport(items=(c.ComponentVariableRef(component="EVSE", evse_id=1),)))
    assert one.status == "Accepted"
    none = await send(csms, c.GetReport(items=(c.ComponentVariableRef(component="Nothing"),)))
    assert none.status == "EmptyResultSet"
