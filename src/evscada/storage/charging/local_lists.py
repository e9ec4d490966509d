"""Local lists, reservations and device models: what the CSMS's commands leave behind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.charging.local_lists import LocalListState
from evscada.core.charging.reservations import ACTIVE, Reservation, ReservationFilter, ReservationStatus
from evscada.core.control.commands import LocalListEntry
from evscada.core.model import StationId, Token, TransactionPk
from evscada.core.stations.device_model import DeviceModelFilter, DeviceVariable
from evscada.storage import tables as t
from evscada.storage.store import _token_from


class SqlLocalLists:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def state(self, *, station_id: StationId) -> LocalListState | None:
        row = (
            (await self._c.execute(select(t.local_lists).where(t.local_lists.c.station_id == station_id)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        e = t.local_list_entries.c
        count = (
            await self._c.execute(
                select(func.count()).select_from(t.local_list_entries).where(e.station_id == station_id)
            )
        ).scalar_one()
        return LocalListState(
            station_id=StationId(row["station_id"]),
            version=row["version"],
            attempted_version=row["attempted_version"],
            update=row["update_type"],
            group_id=row["group_id"],
            sent_at=row["sent_at"],
            command_id=row["command_id"],
            entries=int(count),
            reported_version=row["reported_version"],
            reported_at=row["reported_at"],
        )

    async def entries(self, *, station_id: StationId) -> list[LocalListEntry]:
        e = t.local_list_entries.c
        rows = await self._c.execute(select(t.local_list_entries).where(e.station_id == station_id).order_by(e.token))
        return [
            LocalListEntry(
                value=row["token"],
                type=row["type"],
                status=row["status"],
                expires_at=row["expires_at"],
                group_id=row["group_id"],
            )
            for row in rows.mappings()
        ]

    async def tokens(self, *, group_id: str | None) -> list[Token]:
        statement = select(t.tokens).order_by(t.tokens.c.value)
        if group_id is not None:
            statement = statement.where(t.tokens.c.group_id == group_id)
        return [_token_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def attempt(self, *, station_id: StationId, version: int) -> None:
        c = t.local_lists.c
        result = await self._c.execute(
            update(t.local_lists).where(c.station_id == station_id).values(attempted_version=version)
        )
        if result.rowcount == 0:
            await self._c.execute(
                insert(t.local_lists).values(station_id=station_id, version=0, attempted_version=version)
            )

    async def record_sent(
        self,
        *,
        station_id: StationId,
        version: int,
        full: bool,
        group_id: str | None,
        entries: Sequence[LocalListEntry],
        command_id: int,
        at: datetime,
    ) -> None:
        e = t.local_list_entries.c
        if full:
            await self._c.execute(delete(t.local_list_entries).where(e.station_id == station_id))
        else:
            values = [entry.value for entry in entries]
            for start in range(0, len(values), 500):  # bounded IN lists
                await self._c.execute(
                    delete(t.local_list_entries).where(
                        e.station_id == station_id, e.token.in_(values[start : start + 500])
                    )
                )
        rows = [
            {
                "station_id": station_id,
                "token": entry.value,
                "type": entry.type,
                "status": entry.status,
                "expires_at": entry.expires_at,
                "group_id": entry.group_id,
            }
            for entry in entries
            if entry.status is not None
        ]
        if rows:
            await self._c.execute(insert(t.local_list_entries), rows)
        await self._c.execute(
            update(t.local_lists)
            .where(t.local_lists.c.station_id == station_id)
            .values(
                version=version,
                update_type="full" if full else "differential",
                group_id=group_id,
                sent_at=at,
                command_id=command_id,
            )
        )

    async def record_reported(self, *, station_id: StationId, version: int, at: datetime) -> None:
        c = t.local_lists.c
        result = await self._c.execute(
            update(t.local_lists).where(c.station_id == station_id).values(reported_version=version, reported_at=at)
        )
        if result.rowcount == 0:
            await self._c.execute(
                insert(t.local_lists).values(
                    station_id=station_id, version=0, attempted_version=0, reported_version=version, reported_at=at
                )
            )


def _reservation_from(row: Mapping[str, Any]) -> Reservation:
    return Reservation(
        id=int(row["id"]),
        station_id=StationId(row["station_id"]),
        evse_id=row["evse_id"],
        connector_type=row["connector_type"],
        id_token=row["id_token"],
        token_type=row["token_type"],
        group_id=row["group_id"],
        expires_at=row["expires_at"],
        status=ReservationStatus(row["status"]),
        created_by=row["created_by"],
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        command_id=row["command_id"],
        cancel_command_id=row["cancel_command_id"],
        transaction_pk=row["transaction_pk"],
    )


def _reservation_values(r: Reservation) -> dict[str, Any]:
    return {
        "station_id": r.station_id,
        "evse_id": r.evse_id,
        "connector_type": r.connector_type,
        "id_token": r.id_token,
        "token_type": r.token_type,
        "group_id": r.group_id,
        "expires_at": r.expires_at,
        "status": str(r.status),
        "created_by": r.created_by,
        "reason": r.reason,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "command_id": r.command_id,
        "cancel_command_id": r.cancel_command_id,
        "transaction_pk": r.transaction_pk,
    }


_ACTIVE = [str(status) for status in ACTIVE]


class SqlReservations:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, reservation: Reservation) -> Reservation:
        result = await self._c.execute(
            insert(t.reservations).values(**_reservation_values(reservation)).returning(t.reservations.c.id)
        )
        reservation.id = int(result.scalar_one())
        return reservation

    async def get(self, *, reservation_id: int) -> Reservation | None:
        statement = select(t.reservations).where(t.reservations.c.id == reservation_id)
        row = (await self._c.execute(statement)).mappings().first()
        return None if row is None else _reservation_from(row)

    async def save(self, *, reservation: Reservation) -> None:
        await self._c.execute(
            update(t.reservations)
            .where(t.reservations.c.id == reservation.id)
            .values(**_reservation_values(reservation))
        )

    async def list(self, *, where: ReservationFilter) -> list[Reservation]:
        c = t.reservations.c
        statement = select(t.reservations).order_by(c.id.desc()).limit(where.limit).offset(where.offset)
        if where.station_id is not None:
            statement = statement.where(c.station_id == where.station_id)
        if where.statuses:
            statement = statement.where(c.status.in_([str(s) for s in where.statuses]))
        return [_reservation_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def expire_due(self, *, now: datetime) -> int:
        c = t.reservations.c
        result = await self._c.execute(
            update(t.reservations)
            .where(c.status.in_(_ACTIVE), c.expires_at <= now)
            .values(status=str(ReservationStatus.EXPIRED), updated_at=now)
        )
        return int(result.rowcount)

    async def mark_used(
        self, *, station_id: StationId, reservation_id: int, transaction_pk: TransactionPk, at: datetime
    ) -> bool:
        c = t.reservations.c
        result = await self._c.execute(
            update(t.reservations)
            .where(c.id == reservation_id, c.station_id == station_id)
            .values(status=str(ReservationStatus.USED), transaction_pk=transaction_pk, updated_at=at)
        )
        return bool(result.rowcount)

    async def station_ended(
        self, *, station_id: StationId, reservation_id: int, status: ReservationStatus, at: datetime
    ) -> bool:
        c = t.reservations.c
        result = await self._c.execute(
            update(t.reservations)
            .where(c.id == reservation_id, c.station_id == station_id, c.status.in_(_ACTIVE))
            .values(status=str(status), updated_at=at)
        )
        return bool(result.rowcount)


_KEY = (
    "component",
    "component_instance",
    "evse_id",
    "connector_id",
    "variable",
    "variable_instance",
    "attribute_type",
)


def _variable_row(station_id: StationId, v: DeviceVariable, now: datetime) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "component": v.component,
        "component_instance": v.component_instance or "",
        "evse_id": v.evse_id or 0,
        "connector_id": v.connector_id or 0,
        "variable": v.variable,
        "variable_instance": v.variable_instance or "",
        "attribute_type": v.attribute_type,
        "value": v.value,
        "mutability": v.mutability,
        "persistent": v.persistent,
        "constant": v.constant,
        "data_type": v.data_type,
        "unit": v.unit,
        "min_limit": v.min_limit,
        "max_limit": v.max_limit,
        "values_list": v.values_list,
        "supports_monitoring": v.supports_monitoring,
        "request_id": v.request_id,
        "reported_at": v.reported_at,
        "updated_at": now,
    }


def _variable_from(row: Mapping[str, Any]) -> DeviceVariable:
    return DeviceVariable(
        component=row["component"],
        component_instance=row["component_instance"] or None,
        evse_id=row["evse_id"] or None,
        connector_id=row["connector_id"] or None,
        variable=row["variable"],
        variable_instance=row["variable_instance"] or None,
        attribute_type=row["attribute_type"],
        value=row["value"],
        mutability=row["mutability"],
        persistent=row["persistent"],
        constant=row["constant"],
        data_type=row["data_type"],
        unit=row["unit"],
        min_limit=row["min_limit"],
        max_limit=row["max_limit"],
        values_list=row["values_list"],
        supports_monitoring=row["supports_monitoring"],
        request_id=row["request_id"],
        reported_at=row["reported_at"],
    )


class SqlDeviceModel:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def upsert(self, *, station_id: StationId, variables: Sequence[DeviceVariable]) -> None:
        if not variables:
            return
        now = datetime.now(UTC)
        # One row per key: a report naming an attribute twice keeps the later one.
        rows = {tuple(row[k] for k in _KEY): row for row in (_variable_row(station_id, v, now) for v in variables)}
        insert_ = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        statement = insert_(t.device_variables)
        replaced = {
            column.name: statement.excluded[column.name]
            for column in t.device_variables.columns
            if column.name not in _KEY and column.name != "station_id"
        }
        await self._c.execute(
            statement.on_conflict_do_update(index_elements=["station_id", *_KEY], set_=replaced),
            list(rows.values()),
        )

    async def list(self, *, station_id: StationId, where: DeviceModelFilter) -> list[DeviceVariable]:
        c = t.device_variables.c
        statement = (
            select(t.device_variables)
            .where(c.station_id == station_id)
            .order_by(*(c[k] for k in _KEY))
            .limit(where.limit)
            .offset(where.offset)
        )
        if where.component is not None:
            statement = statement.where(c.component == where.component)
        if where.variable is not None:
            statement = statement.where(c.variable == where.variable)
        if where.evse_id is not None:
            statement = statement.where(c.evse_id == where.evse_id)
        if where.attribute_type is not None:
            statement = statement.where(c.attribute_type == where.attribute_type)
        return [_variable_from(row) for row in (await self._c.execute(statement)).mappings()]
