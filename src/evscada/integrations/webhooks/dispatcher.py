"""Turns outbox events into one delivery per matching subscription, in one commit with the outbox rows' removal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from evscada.bus import Bus
from evscada.core import events
from evscada.core.model import Transaction
from evscada.core.notifications.webhooks import OutboxEvent, WebhookDelivery, envelope, new_event_id
from evscada.core.ports import Clock
from evscada.core.store import CoreStore, UnitOfWork

log = logging.getLogger(__name__)

BATCH = 200
# After a transaction event, wait this long before scanning the outbox, so the events that follow go in the same
# scan: a receiver hears a fraction of a second later, and a busy gateway does one scan where it did dozens.
GATHER_SECONDS = 0.2

# A transaction as JSON, the way the REST API shows it (GET /api/v1/transactions/{id} without samples): receivers
# read one shape everywhere, and the composition root hands over the API's own (ADR 0004).
TransactionJson = Callable[[Transaction], dict[str, Any]]


class WebhookDispatcher:
    """The bus only wakes it: the outbox is the truth, so a full bus queue or a restart loses no event."""

    def __init__(
        self,
        *,
        store: CoreStore,
        bus: Bus,
        clock: Clock,
        poll_interval: float,
        on_dispatched: Callable[[], None],
        transaction_json: TransactionJson,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._poll_interval = poll_interval
        self._on_dispatched = on_dispatched
        self._transaction_json = transaction_json

    async def run(self) -> None:
        async with self._bus.subscribe(events.TransactionStarted, events.TransactionEnded) as queue:
            while True:
                try:
                    await self.dispatch_pending()
                except Exception:  # the database may be away for a moment; the outbox keeps the events
                    log.exception("webhook dispatch failed; retrying in %.1f s", self._poll_interval)
                await _next_transaction_event(queue, self._poll_interval)

    async def dispatch_pending(self) -> int:
        """Fan out every event in the outbox; returns how many deliveries were queued."""
        queued = 0
        while True:
            async with self._store.unit() as uow:
                pending = await uow.outbox.pending(limit=BATCH)
                if not pending:
                    break
                subscriptions = await uow.webhooks.list(active_only=True)
                deliveries: list[WebhookDelivery] = []
                now = self._clock.now()
                for event in pending:
                    targets = [s for s in subscriptions if s.wants(event.event_type)]
                    if not targets:
                        continue
                    payload = envelope(
                        event_id=new_event_id(),
                        event_type=event.event_type,
                        occurred_at=event.occurred_at,
                        data=await self._data(uow, event),
                    )
                    deliveries += [
                        WebhookDelivery(
                            id=0,
                            subscription_id=s.id,
                            event_id=payload["id"],
                            event_type=event.event_type,
                            payload=payload,
                            created_at=now,
                            next_attempt_at=now,
                        )
                        for s in targets
                    ]
                await uow.webhooks.add_deliveries(deliveries=deliveries)
                await uow.outbox.remove(ids=[event.id for event in pending])
            queued += len(deliveries)
            if deliveries:
                self._on_dispatched()
        return queued

    async def _data(self, uow: UnitOfWork, event: OutboxEvent) -> dict[str, Any]:
        """The event's data with its transaction as the REST API shows it."""
        if event.transaction_pk is None:
            return dict(event.data)
        transaction = await uow.reads.transaction(pk=event.transaction_pk)
        if transaction is None:  # deleted since; say which one it was
            return {**event.data, "transaction": {"id": event.transaction_pk, "station_id": event.station_id}}
        return {**event.data, "transaction": self._transaction_json(transaction)}


async def _next_transaction_event(queue: asyncio.Queue[events.Event], timeout: float) -> None:
    """Wait for a transaction event (the outbox has rows then) or the poll interval, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while not isinstance(await queue.get(), events.TransactionStarted | events.TransactionEnded):
                pass
            await asyncio.sleep(GATHER_SECONDS)
