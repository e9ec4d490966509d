"""Many stations' connections, boots and statuses in one commit give what one commit each would have given."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from evscada.core.errors import UnknownStation
from evscada.core.model import BootInfo, ConnectorStatus, EvseRef, RegistrationStatus, StationId, StatusReport
from evscada.storage import tables as t
from evscada.storage.db import Database
from evscada.storage.stations.state_writer import BootRecord, ConnectionChange, StationStateWriter, StatusRecord

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


async def _stations(database: Database, count: int) -> list[StationId]:
    """Fresh ids: the PostgreSQL database is shared by the whole test run."""
    ids = [StationId(f"SSW-{uuid.uuid4().hex[:8]}") for _ in range(count)]
    async with database.transaction() as c:
        await c.execute(
            insert(t.stations),
            [
                {"id": sid, "registration": "Accepted", "security_profile": 0, "online": False, "created_at": T0}
                for sid in ids
            ],
        )
    return ids


def _status(station_id: StationId, status: ConnectorStatus, at: datetime, connector: int = 1) -> StatusRecord:
    report = StatusReport(evse=EvseRef(connector, 1), status=status, timestamp=at)
    return StatusRecord(station_id, report, received_at=T0 + timedelta(hours=1))


async def _connector(database: Database, station_id: StationId, evse: int = 1) -> dict[str, object]:
    async with database.transaction() as c:
        rows = await c.execute(
            select(t.connectors).where(t.connectors.c.station_id == station_id, t.connectors.c.evse_id == evse)
        )
        (row,) = rows.mappings().all()
        return dict(row)


async def test_reports_in_one_batch_apply_in_order_and_a_late_one_only_reaches_history(database: Database) -> None:
    a, b = await _stations(database, 2)
    writer = StationStateWriter(database)
    batch = [
        _status(a, ConnectorStatus.AVAILABLE, T0),
        _status(a, ConnectorStatus.CHARGING, T0 + timedelta(minutes=2)),
        _status(a, ConnectorStatus.PREPARING, T0 + timedelta(minutes=1)),  # late: sent after reconnecting
        _status(a, ConnectorStatus.CHARGING, T0 + timedelta(minutes=3)),  # the same state again
        _status(b, ConnectorStatus.FAULTED, T0, connector=2),
    ]

    async with database.transaction() as c:
        results = await writer.write(c, batch)

    assert results == [True, True, False, False, True]
    current = await _connector(database, a)
    assert (current["status"], current["status_at"]) == ("Charging", T0 + timedelta(minutes=3))
    assert (await _connector(database, b, evse=2))["status"] == "Faulted"
    async with database.transaction() as c:
        history = await c.execute(
            select(t.status_history.c.status).where(t.status_history.c.station_id == a).order_by(t.status_history.c.id)
        )
        assert history.scalars().all() == ["Available", "Charging", "Preparing", "Charging"]


async def test_a_report_of_a_removed_station_is_refused_alone(database: Database) -> None:
    (known,) = await _stations(database, 1)
    writer = StationStateWriter(database)

    results = await asyncio.gather(
        writer.status(station_id=known, report=_status(known, ConnectorStatus.AVAILABLE, T0).report, received_at=T0),
        writer.status(
            station_id=StationId("SSW-GONE"),
            report=_status(StationId("SSW-GONE"), ConnectorStatus.AVAILABLE, T0).report,
            received_at=T0,
        ),
        writer.boot(station_id=known, boot=BootInfo(vendor="ACME", model="X1", serial_number="42"), at=T0),
        writer.boot(station_id=StationId("SSW-GONE"), boot=BootInfo(vendor="ACME", model="X1"), at=T0),
        return_exceptions=True,
    )
    await writer.close()

    assert results[0] is True
    assert isinstance(results[1], UnknownStation)
    assert results[2] == RegistrationStatus.ACCEPTED and results[3] is None
    async with database.transaction() as c:
        station = (await c.execute(select(t.stations).where(t.stations.c.id == known))).mappings().one()
    assert (station["vendor"], station["model"], station["serial_number"], station["last_boot"]) == (
        "ACME",
        "X1",
        "42",
        T0,
    )


async def test_a_replaced_connection_in_one_batch_leaves_the_station_online_on_its_new_version(
    database: Database,
) -> None:
    (station,) = await _stations(database, 1)
    writer = StationStateWriter(database)
    async with database.transaction() as c:
        await writer.write(c, [ConnectionChange(station, True, T0, "1.6", None)])
    batch: list[ConnectionChange | BootRecord] = [
        ConnectionChange(station, False, T0 + timedelta(minutes=5), None, "replaced by a new connection"),
        ConnectionChange(station, True, T0 + timedelta(minutes=5, seconds=1), "2.0.1", None),
        BootRecord(station, BootInfo(vendor="ACME", model="X2"), T0 + timedelta(minutes=5, seconds=2)),
    ]

    async with database.transaction() as c:
        results = await writer.write(c, batch)

    assert results == [None, None, RegistrationStatus.ACCEPTED]
    async with database.transaction() as c:
        row = (await c.execute(select(t.stations).where(t.stations.c.id == station))).mappings().one()
        history = await c.execute(
            select(t.station_connectivity.c.online, t.station_connectivity.c.reason)
            .where(t.station_connectivity.c.station_id == station)
            .order_by(t.station_connectivity.c.id)
        )
        changes = [tuple(r) for r in history]
    assert (row["online"], row["ocpp_version"], row["connected_since"]) == (
        True,
        "2.0.1",
        T0 + timedelta(minutes=5, seconds=1),
    )
    assert row["last_seen"] == T0 + timedelta(minutes=5, seconds=2) and row["model"] == "X2"
    assert changes == [(True, None), (False, "replaced by a new connection"), (True, None)]


async def test_a_disconnect_keeps_when_the_session_began_and_its_version(database: Database) -> None:
    (station,) = await _stations(database, 1)
    writer = StationStateWriter(database)
    await writer.connection(station_id=station, online=True, at=T0, ocpp_version="1.6", reason=None)
    await writer.connection(
        station_id=station, online=False, at=T0 + timedelta(hours=1), ocpp_version=None, reason="ping timeout"
    )
    async with database.transaction() as c:
        row = (await c.execute(select(t.stations).where(t.stations.c.id == station))).mappings().one()
    assert (row["online"], row["connected_since"], row["ocpp_version"], row["disconnect_reason"]) == (
        False,
        T0,
        "1.6",
        "ping timeout",
    )
