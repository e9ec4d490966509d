"""The notification outbox, delivery log and pending escalations in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import AlarmId
from evscada.core.notifications.deliveries import Delivery, DeliveryFilter, DeliveryStatus, PendingEscalation
from evscada.storage import tables as t

_D = t.notification_deliveries
_LINKS = t.notification_alarms
_ESC = t.notification_escalations


def _delivery_from(row: Any, alarm_ids: tuple[AlarmId, ...]) -> Delivery:
    return Delivery(
        id=row["id"],
        recipient=row["recipient"],
        channel=row["channel"],
        address=row["address"],
        kind=row["kind"],
        subject=row["subject"],
        body=row["body"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"],
        alarm_ids=alarm_ids,
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
        updated_at=row["updated_at"],
        folded_into=row["folded_into"],
    )


class SqlDeliveries:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, delivery: Delivery) -> Delivery:
        result = await self._c.execute(
            insert(_D)
            .values(
                recipient=delivery.recipient,
                channel=delivery.channel,
                address=delivery.address,
                kind=delivery.kind,
                subject=delivery.subject[:500],
                body=delivery.body,
                payload=delivery.payload,
                status=delivery.status.value,
                attempts=delivery.attempts,
                last_error=delivery.last_error,
                created_at=delivery.created_at,
                next_attempt_at=delivery.next_attempt_at,
                sent_at=delivery.sent_at,
                updated_at=delivery.updated_at or delivery.created_at,
                folded_into=delivery.folded_into,
            )
            .returning(_D.c.id)
        )
        delivery.id = result.scalar_one()
        if delivery.alarm_ids:
            await self._c.execute(
                insert(_LINKS), [{"delivery_id": delivery.id, "alarm_id": a} for a in sorted(set(delivery.alarm_ids))]
            )
        return delivery

    async def save(self, *, delivery: Delivery) -> None:
        await self._c.execute(
            update(_D)
            .where(_D.c.id == delivery.id)
            .values(
                status=delivery.status.value,
                attempts=delivery.attempts,
                last_error=None if delivery.last_error is None else delivery.last_error[:1000],
                next_attempt_at=delivery.next_attempt_at,
                sent_at=delivery.sent_at,
                updated_at=delivery.updated_at,
                folded_into=delivery.folded_into,
            )
        )

    async def due(self, *, now: datetime, limit: int) -> list[Delivery]:
        statement = (
            select(_D)
            .where(_D.c.status == DeliveryStatus.PENDING.value, _D.c.next_attempt_at <= now)
            .order_by(_D.c.next_attempt_at, _D.c.id)
            .limit(limit)
        )
        return await self._read(statement)

    async def next_attempt_at(self) -> datetime | None:
        statement = select(func.min(_D.c.next_attempt_at)).where(_D.c.status == DeliveryStatus.PENDING.value)
        value: datetime | None = (await self._c.execute(statement)).scalar_one()  # min() keeps the UTC type
        return value

    async def held(self) -> list[Delivery]:
        return await self._read(select(_D).where(_D.c.status == DeliveryStatus.HELD.value).order_by(_D.c.id))

    async def fold(self, *, delivery_ids: list[int], into: int, at: datetime) -> None:
        await self._c.execute(
            update(_D)
            .where(_D.c.id.in_(delivery_ids))
            .values(status=DeliveryStatus.FOLDED.value, folded_into=into, updated_at=at)
        )

    async def add_escalation(self, *, escalation: PendingEscalation) -> None:
        await self._c.execute(_ESC.delete().where(_ESC.c.alarm_id == escalation.alarm_id))
        await self._c.execute(
            insert(_ESC).values(
                alarm_id=escalation.alarm_id, level=escalation.level, due_at=escalation.due_at, alarm=escalation.alarm
            )
        )

    async def due_escalations(self, *, now: datetime) -> list[PendingEscalation]:
        rows = await self._c.execute(select(_ESC).where(_ESC.c.due_at <= now).order_by(_ESC.c.due_at))
        return [
            PendingEscalation(alarm_id=AlarmId(r["alarm_id"]), level=r["level"], due_at=r["due_at"], alarm=r["alarm"])
            for r in rows.mappings()
        ]

    async def next_escalation_at(self) -> datetime | None:
        value: datetime | None = (await self._c.execute(select(func.min(_ESC.c.due_at)))).scalar_one()
        return value

    async def remove_escalation(self, *, alarm_id: AlarmId) -> bool:
        result = await self._c.execute(_ESC.delete().where(_ESC.c.alarm_id == alarm_id))
        return bool(result.rowcount)

    async def _read(self, statement: Any) -> list[Delivery]:
        rows = (await self._c.execute(statement)).mappings().all()
        if not rows:
            return []
        links = await self._c.execute(
            select(_LINKS.c.delivery_id, _LINKS.c.alarm_id)
            .where(_LINKS.c.delivery_id.in_([row["id"] for row in rows]))
            .order_by(_LINKS.c.alarm_id)
        )
        alarms: dict[int, list[AlarmId]] = {}
        for delivery_id, alarm_id in links:
            alarms.setdefault(delivery_id, []).append(AlarmId(alarm_id))
        return [_delivery_from(row, tuple(alarms.get(row["id"], ()))) for row in rows]

    async def list(self, *, where: DeliveryFilter) -> list[Delivery]:
        statement = select(_D)
        if where.recipient is not None:
            statement = statement.where(_D.c.recipient == where.recipient)
        if where.channel is not None:
            statement = statement.where(_D.c.channel == where.channel)
        if where.status is not None:
            statement = statement.where(_D.c.status == where.status.value)
        if where.since is not None:
            statement = statement.where(_D.c.created_at >= where.since)
        if where.until is not None:
            statement = statement.where(_D.c.created_at < where.until)
        if where.alarm_id is not None:
            carrying = select(_LINKS.c.delivery_id).where(_LINKS.c.alarm_id == where.alarm_id)
            statement = statement.where(_D.c.id.in_(carrying))
        return await self._read(statement.order_by(_D.c.id.desc()).limit(where.limit).offset(where.offset))
