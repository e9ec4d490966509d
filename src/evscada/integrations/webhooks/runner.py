"""Owns the dispatcher and the worker tasks; Application starts and stops it."""

from __future__ import annotations

import asyncio
import contextlib

from evscada.bus import Bus
from evscada.core.ports import Clock
from evscada.core.store import CoreStore
from evscada.integrations.webhooks.dispatcher import TransactionJson, WebhookDispatcher
from evscada.integrations.webhooks.settings import WebhookSettings
from evscada.integrations.webhooks.worker import WebhookWorker


class Webhooks:
    def __init__(
        self,
        *,
        store: CoreStore,
        bus: Bus,
        clock: Clock,
        settings: WebhookSettings,
        transaction_json: TransactionJson,
    ) -> None:
        self.settings = settings
        self.worker = WebhookWorker(store=store, clock=clock, settings=settings)
        self.dispatcher = WebhookDispatcher(
            store=store,
            bus=bus,
            clock=clock,
            poll_interval=settings.poll_interval,
            on_dispatched=self.worker.wake,
            transaction_json=transaction_json,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self.settings.enabled or self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self.dispatcher.run(), name="webhook-dispatcher"),
            asyncio.create_task(self.worker.run(), name="webhook-worker"),
        ]

    async def stop(self) -> None:
        """Cancel both; a POST cut short stays pending and is sent again after the next start (same event id)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
