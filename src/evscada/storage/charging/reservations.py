"""SQL for reservations: made by operators, ended by stations, expired by the clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.charging.reservations import ACTIVE, Reservation, ReservationFilter, ReservationStatus
from evscada.core.model import StationId, TransactionPk
from evscada.storage import tables as t


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
