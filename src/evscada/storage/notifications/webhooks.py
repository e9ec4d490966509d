"""The event outbox, webhook subscriptions and their delivery log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import StationId, TransactionPk
from evscada.core.notifications.webhooks import OutboxEvent, Subscription, WebhookDelivery, WebhookDeliveryStatus
from evscada.storage import tables as t

_D = t.webhook_deliveries.c


_INSERT_OUTBOX = insert(t.event_outbox)  # built once: it is on every transaction message's path


class SqlOutbox:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(
        self,
        *,
        event_type: str,
        station_id: StationId,
        transaction_pk: TransactionPk | None,
        occurred_at: datetime,
        data: dict[str, Any] | None = None,
    ) -> None:
        await self._c.execute(
            _INSERT_OUTBOX,
            {
                "event_type": event_type,
                "station_id": station_id,
                "transaction_pk": transaction_pk,
                "occurred_at": occurred_at,
                "data": data,
                "created_at": datetime.now(UTC),
            },
        )

    async def pending(self, *, limit: int) -> list[OutboxEvent]:
        # Locked and skipped on PostgreSQL, so two processes never dispatch the same event (SQLite: one writer).
        statement = select(t.event_outbox).order_by(t.event_outbox.c.id).limit(limit).with_for_update(skip_locked=True)
        rows = await self._c.execute(statement)
        return [
            OutboxEvent(
                id=row["id"],
                event_type=row["event_type"],
                station_id=StationId(row["station_id"]),
                transaction_pk=None if row["transaction_pk"] is None else TransactionPk(row["transaction_pk"]),
                occurred_at=row["occurred_at"],
                data=row["data"] or {},
            )
            for row in rows.mappings()
        ]

    async def remove(self, *, ids: Sequence[int]) -> None:
        if ids:
            await self._c.execute(t.event_outbox.delete().where(t.event_outbox.c.id.in_(list(ids))))


def _subscription_from(row: Mapping[str, Any]) -> Subscription:
    return Subscription(
        id=row["id"],
        url=row["url"],
        events=list(row["events"]),
        secret=row["secret"],
        active=row["active"],
        description=row["description"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def delivery_from(row: Mapping[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        subscription_id=row["subscription_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        payload=dict(row["payload"]),
        created_at=row["created_at"],
        status=WebhookDeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        delivered_at=row["delivered_at"],
    )


class SqlWebhooks:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, subscription: Subscription) -> Subscription:
        s = subscription
        result = await self._c.execute(
            insert(t.webhook_subscriptions)
            .values(
                url=s.url,
                events=s.events,
                secret=s.secret,
                active=s.active,
                description=s.description,
                created_at=func.now(),
                updated_at=func.now(),
            )
            .returning(t.webhook_subscriptions)
        )
        return _subscription_from(result.mappings().one())

    async def get(self, *, subscription_id: int) -> Subscription | None:
        table = t.webhook_subscriptions
        row = (await self._c.execute(select(table).where(table.c.id == subscription_id))).mappings().first()
        return None if row is None else _subscription_from(row)

    async def list(self, *, active_only: bool = False) -> list[Subscription]:
        table = t.webhook_subscriptions
        statement = select(table).order_by(table.c.id)
        if active_only:
            statement = statement.where(table.c.active.is_(True))
        return [_subscription_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def save(self, *, subscription: Subscription) -> None:
        s = subscription
        table = t.webhook_subscriptions
        await self._c.execute(
            update(table)
            .where(table.c.id == s.id)
            .values(
                url=s.url,
                events=s.events,
                secret=s.secret,
                active=s.active,
                description=s.description,
                updated_at=func.now(),
            )
        )

    async def delete(self, *, subscription_id: int) -> bool:
        await self._c.execute(t.webhook_deliveries.delete().where(_D.subscription_id == subscription_id))
        table = t.webhook_subscriptions
        result = await self._c.execute(table.delete().where(table.c.id == subscription_id))
        return bool(result.rowcount)

    async def add_deliveries(self, *, deliveries: Sequence[WebhookDelivery]) -> list[WebhookDelivery]:
        added = []
        for d in deliveries:
            result = await self._c.execute(
                insert(t.webhook_deliveries)
                .values(
                    subscription_id=d.subscription_id,
                    event_id=d.event_id,
                    event_type=d.event_type,
                    payload=d.payload,
                    status=str(d.status),
                    attempts=d.attempts,
                    next_attempt_at=d.next_attempt_at,
                    created_at=d.created_at,
                )
                .returning(t.webhook_deliveries)
            )
            added.append(delivery_from(result.mappings().one()))
        return added

    async def delivery(self, *, subscription_id: int, delivery_id: int) -> WebhookDelivery | None:
        statement = select(t.webhook_deliveries).where(_D.id == delivery_id, _D.subscription_id == subscription_id)
        row = (await self._c.execute(statement)).mappings().first()
        return None if row is None else delivery_from(row)

    async def deliveries(
        self, *, subscription_id: int, status: WebhookDeliveryStatus | None, limit: int, offset: int
    ) -> list[WebhookDelivery]:
        statement = select(t.webhook_deliveries).where(_D.subscription_id == subscription_id)
        if status is not None:
            statement = statement.where(_D.status == str(status))
        statement = statement.order_by(_D.id.desc()).limit(limit).offset(offset)
        return [delivery_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def pending_heads(self, *, subscription_id: int | None = None) -> list[WebhookDelivery]:
        """Per active subscription, its oldest pending delivery: deliveries go out in order, one at a time."""
        pending = _D.status == str(WebhookDeliveryStatus.PENDING)
        heads = select(func.min(_D.id)).where(pending)
        if subscription_id is not None:
            heads = heads.where(_D.subscription_id == subscription_id)
        subs = t.webhook_subscriptions
        statement = (
            select(t.webhook_deliveries)
            .join(subs, subs.c.id == _D.subscription_id)
            .where(_D.id.in_(heads.group_by(_D.subscription_id).scalar_subquery()), subs.c.active.is_(True))
            .order_by(_D.id)
        )
        return [delivery_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def claim(self, *, delivery_id: int, now: datetime, until: datetime) -> bool:
        """Lease a due delivery for one attempt; an attempt cut short (crash) is retried when the lease ends."""
        result = await self._c.execute(
            update(t.webhook_deliveries)
            .where(_D.id == delivery_id, _D.status == str(WebhookDeliveryStatus.PENDING), _D.next_attempt_at <= now)
            .values(next_attempt_at=until)
        )
        return bool(result.rowcount)

    async def record_attempt(self, *, delivery: WebhookDelivery) -> None:
        d = delivery
        await self._c.execute(
            update(t.webhook_deliveries)
            .where(_D.id == d.id)
            .values(
                status=str(d.status),
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_attempt_at=d.last_attempt_at,
                last_status_code=d.last_status_code,
                last_error=d.last_error,
                delivered_at=d.delivered_at,
            )
        )
