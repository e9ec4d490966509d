"""Group commit for what stations say about themselves: connections, boots and connector statuses.

A site coming back after a power cut connects, boots and reports every connector at once; written one transaction
per message that is about ten trips to SQLite's thread per station. Here a batch of any size costs a handful of
statements (docs/performance.md, "connection storm"). The rules are the ones a single write follows: history rows
for every report, a late report (queued while offline) never overwrites a newer state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, bindparam, case, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.errors import UnknownStation
from evscada.core.model import BootInfo, RegistrationStatus, StationId, StatusReport
from evscada.storage import tables as t
from evscada.storage.db import Database
from evscada.storage.group_commit import GroupWriter, Refused

MAX_BATCH = 500  # messages per commit; the key lookups stay well inside SQLite's parameter limit

_station = t.stations.c
# The UPDATE of a connection change: a disconnect keeps connected_since and the version of the session that ended.
_SET_CONNECTION = (
    update(t.stations)
    .where(_station.id == bindparam("p_station_id"))
    .values(
        online=bindparam("p_online", type_=Boolean),
        last_seen=bindparam("p_at", type_=t.UtcDateTime),
        disconnect_reason=bindparam("p_reason"),
        connected_since=case(
            (bindparam("p_online", type_=Boolean), bindparam("p_at", type_=t.UtcDateTime)),
            else_=_station.connected_since,
        ),
        ocpp_version=case((bindparam("p_online", type_=Boolean), bindparam("p_version")), else_=_station.ocpp_version),
    )
)
_INSERT_CONNECTIVITY = insert(t.station_connectivity)
_SET_BOOT = (
    update(t.stations)
    .where(_station.id == bindparam("p_station_id"))
    .values(
        vendor=bindparam("p_vendor"),
        model=bindparam("p_model"),
        serial_number=bindparam("p_serial_number"),
        firmware_version=bindparam("p_firmware_version"),
        modem_iccid=bindparam("p_modem_iccid"),
        modem_imsi=bindparam("p_modem_imsi"),
        last_boot=bindparam("p_at", type_=t.UtcDateTime),
        last_seen=bindparam("p_at", type_=t.UtcDateTime),
    )
)
_INSERT_STATUS_HISTORY = insert(t.status_history)
_INSERT_CONNECTOR = insert(t.connectors)
_connector = t.connectors.c
_UPDATE_CONNECTOR = (
    update(t.connectors)
    .where(
        _connector.station_id == bindparam("k_station_id"),
        _connector.evse_id == bindparam("k_evse_id"),
        _connector.connector_id == bindparam("k_connector_id"),
    )
    .values(
        status=bindparam("status"),
        error_code=bindparam("error_code"),
        info=bindparam("info"),
        vendor_id=bindparam("vendor_id"),
        vendor_error_code=bindparam("vendor_error_code"),
        status_at=bindparam("status_at", type_=t.UtcDateTime),
    )
)
_REGISTRATIONS = select(_station.id, _station.registration).where(_station.id.in_(bindparam("p_ids", expanding=True)))
_CONNECTORS = select(t.connectors).where(
    tuple_(_connector.station_id, _connector.evse_id, _connector.connector_id).in_(bindparam("p_keys", expanding=True))
)


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    station_id: StationId
    online: bool
    at: datetime
    ocpp_version: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class BootRecord:
    station_id: StationId
    boot: BootInfo
    at: datetime


@dataclass(frozen=True, slots=True)
class StatusRecord:
    station_id: StationId
    report: StatusReport
    received_at: datetime


StateWrite = ConnectionChange | BootRecord | StatusRecord
StateResult = RegistrationStatus | bool | None


class StationStateWriter(GroupWriter[StateWrite, StateResult]):
    what = "station state messages"

    def __init__(self, database: Database) -> None:
        super().__init__(database, max_batch=MAX_BATCH)

    async def connection(
        self, *, station_id: StationId, online: bool, at: datetime, ocpp_version: str | None, reason: str | None
    ) -> None:
        await self.submit(ConnectionChange(station_id, online, at, ocpp_version, reason))

    async def boot(self, *, station_id: StationId, boot: BootInfo, at: datetime) -> RegistrationStatus | None:
        result = await self.submit(BootRecord(station_id, boot, at))
        return result if isinstance(result, RegistrationStatus) else None

    async def status(self, *, station_id: StationId, report: StatusReport, received_at: datetime) -> bool:
        return bool(await self.submit(StatusRecord(station_id, report, received_at)))

    async def write(self, connection: AsyncConnection, items: Sequence[StateWrite]) -> list[StateResult | Refused]:
        results: list[StateResult | Refused] = [None] * len(items)
        changes = [item for item in items if isinstance(item, ConnectionChange)]
        boots = [(i, item) for i, item in enumerate(items) if isinstance(item, BootRecord)]
        statuses = [(i, item) for i, item in enumerate(items) if isinstance(item, StatusRecord)]
        if changes:  # first: a boot or status in the same batch comes from a connection opened before it
            await _write_connections(connection, changes)
        registrations = await _registrations(connection, {item.station_id for _, item in boots + statuses})
        if boots:
            await _write_boots(connection, [item for _, item in boots if item.station_id in registrations])
            for i, item in boots:
                results[i] = registrations.get(item.station_id)
        known = [(i, item) for i, item in statuses if item.station_id in registrations]
        for i, item in statuses:
            if item.station_id not in registrations:  # removed while connected: refused alone, not the batch
                results[i] = Refused(UnknownStation(f"station {item.station_id} is not registered"))
        if known:
            for i, changed in zip((i for i, _ in known), await _write_statuses(connection, known), strict=True):
                results[i] = changed
        return results


async def _write_connections(connection: AsyncConnection, changes: list[ConnectionChange]) -> None:
    await connection.execute(
        _SET_CONNECTION,
        [
            {
                "p_station_id": c.station_id,
                "p_online": c.online,
                "p_at": c.at,
                "p_reason": c.reason,
                "p_version": c.ocpp_version,
            }
            for c in changes
        ],
    )
    # The connectivity history behind availability reports (storage/historian/samples.py reads it).
    await connection.execute(
        _INSERT_CONNECTIVITY,
        [
            {
                "station_id": c.station_id,
                "online": c.online,
                "at": c.at,
                "ocpp_version": c.ocpp_version,
                "reason": c.reason,
            }
            for c in changes
        ],
    )


async def _registrations(
    connection: AsyncConnection, station_ids: set[StationId]
) -> dict[StationId, RegistrationStatus]:
    if not station_ids:
        return {}
    rows = await connection.execute(_REGISTRATIONS, {"p_ids": sorted(station_ids)})
    return {StationId(row.id): RegistrationStatus(row.registration) for row in rows}


async def _write_boots(connection: AsyncConnection, boots: list[BootRecord]) -> None:
    if not boots:
        return
    await connection.execute(
        _SET_BOOT,
        [
            {
                "p_station_id": b.station_id,
                "p_vendor": b.boot.vendor,
                "p_model": b.boot.model,
                "p_serial_number": b.boot.serial_number,
                "p_firmware_version": b.boot.firmware_version,
                "p_modem_iccid": b.boot.modem_iccid,
                "p_modem_imsi": b.boot.modem_imsi,
                "p_at": b.at,
            }
            for b in boots
        ],
    )


Key = tuple[str, int, int]


async def _write_statuses(connection: AsyncConnection, statuses: list[tuple[int, StatusRecord]]) -> list[bool]:
    """History for every report; the current state per connector as if the reports were applied one by one."""
    records = [record for _, record in statuses]
    await connection.execute(
        _INSERT_STATUS_HISTORY,
        [
            {**_key_of(r), **_values_of(r.report), "timestamp": r.report.timestamp, "received_at": r.received_at}
            for r in records
        ],
    )
    keys = {_key(r) for r in records}
    found = await connection.execute(_CONNECTORS, {"p_keys": sorted(keys)})
    current: dict[Key, dict[str, Any]] = {
        (row["station_id"], row["evse_id"], row["connector_id"]): dict(row) for row in found.mappings()
    }
    stored = set(current)  # connectors that have a row already: updated; the others inserted
    touched: set[Key] = set()
    answers = []
    for record in records:
        key, values = _key(record), _values_of(record.report)
        state = current.get(key)
        if state is not None and state["status_at"] is not None and state["status_at"] > record.report.timestamp:
            answers.append(False)  # a late report (queued offline) goes to history, not over a newer state
            continue
        answers.append(state is None or any(state[k] != v for k, v in values.items()))
        current[key] = {**values, "status_at": record.report.timestamp}
        touched.add(key)
    inserts = [
        {"station_id": k[0], "evse_id": k[1], "connector_id": k[2], **current[k]} for k in sorted(touched - stored)
    ]
    updates = [
        {"k_station_id": k[0], "k_evse_id": k[1], "k_connector_id": k[2], **current[k]}
        for k in sorted(touched & stored)
    ]
    if inserts:
        await connection.execute(_INSERT_CONNECTOR, inserts)
    if updates:
        await connection.execute(_UPDATE_CONNECTOR, updates)
    return answers


def _key(record: StatusRecord) -> Key:
    return (record.station_id, record.report.evse.evse_id, record.report.evse.connector_id)


def _key_of(record: StatusRecord) -> dict[str, Any]:
    station_id, evse_id, connector_id = _key(record)
    return {"station_id": station_id, "evse_id": evse_id, "connector_id": connector_id}


def _values_of(report: StatusReport) -> dict[str, Any]:
    return {
        "status": str(report.status),
        "error_code": report.error_code,
        "info": report.info,
        "vendor_id": report.vendor_id,
        "vendor_error_code": report.vendor_error_code,
    }
