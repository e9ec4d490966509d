"""Sends pending deliveries: signed POSTs, one at a time and in order per subscription, retried with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from evscada import __version__
from evscada.core.notifications.webhooks import Subscription, WebhookDelivery, WebhookDeliveryStatus
from evscada.core.ports import Clock
from evscada.core.store import CoreStore
from evscada.integrations.signing import signed_headers
from evscada.integrations.webhooks.settings import WebhookSettings

log = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Evscada-Event-Id"  # the same on every retry and redelivery: receivers deduplicate on it
EVENT_TYPE_HEADER = "X-Evscada-Event-Type"
DELIVERY_HEADER = "X-Evscada-Delivery"


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def backoff(attempts: int, settings: WebhookSettings, rand: float) -> float:
    """Seconds before the next attempt: doubling from retry_initial, capped at retry_max, shortened by jitter."""
    delay = min(settings.retry_max, settings.retry_initial * 2 ** min(attempts - 1, 32))
    return delay * (1 - settings.retry_jitter * rand)


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


class WebhookWorker:
    """One sender task per subscription with work: a slow or dead receiver holds up only its own deliveries."""

    def __init__(self, *, store: CoreStore, clock: Clock, settings: WebhookSettings) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._wake = asyncio.Event()
        self._busy: set[int] = set()
        self._limit = asyncio.Semaphore(settings.concurrency)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        timeout = httpx.Timeout(self._settings.request_timeout)
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
            asyncio.TaskGroup() as senders,
        ):
            while True:
                self._wake.clear()
                try:
                    wait = await self._start_due(client, senders)
                except Exception:  # the database may be away for a moment; pending rows wait for the next scan
                    log.exception("webhook scan failed; retrying in %.1f s", self._settings.poll_interval)
                    wait = self._settings.poll_interval
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _start_due(self, client: httpx.AsyncClient, senders: asyncio.TaskGroup) -> float:
        """Start a sender for each idle subscription whose oldest pending delivery is due; seconds to the next."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            heads = await uow.webhooks.pending_heads()
            subscriptions = {s.id: s for s in await uow.webhooks.list(active_only=True)}
        wait = self._settings.poll_interval
        for head in heads:
            if head.subscription_id in self._busy or head.subscription_id not in subscriptions:
                continue
            due_in = (head.next_attempt_at - now).total_seconds() if head.next_attempt_at else 0.0
            if due_in > 0:
                wait = min(wait, due_in)
                continue
            self._busy.add(head.subscription_id)
            senders.create_task(self._drain(client, subscriptions[head.subscription_id], head))
        return max(wait, 0.01)

    async def _drain(self, client: httpx.AsyncClient, subscription: Subscription, head: WebhookDelivery) -> None:
        """Send this subscription's deliveries oldest first until one fails (it waits, the rest behind it)."""
        try:
            delivery: WebhookDelivery | None = head
            while delivery is not None:
                if not await self._attempt(client, subscription, delivery):
                    return
                async with self._store.unit() as uow:
                    fresh = await uow.webhooks.get(subscription_id=subscription.id)
                    heads = await uow.webhooks.pending_heads(subscription_id=subscription.id)
                if fresh is None or not fresh.active or not heads:
                    return
                subscription, delivery = fresh, heads[0]
                if delivery.next_attempt_at is not None and delivery.next_attempt_at > self._clock.now():
                    return  # a redelivery queued for later; the scan starts it when due
        except Exception:  # one receiver's trouble must not end the worker; the lease makes the row due again
            log.exception("webhook %s: sending failed", subscription.id)
        finally:
            self._busy.discard(subscription.id)
            self._wake.set()

    async def _attempt(self, client: httpx.AsyncClient, subscription: Subscription, delivery: WebhookDelivery) -> bool:
        """One POST; the outcome is written to the delivery log. True when delivered."""
        now = self._clock.now()
        lease = now + timedelta(seconds=self._settings.request_timeout + 5)
        async with self._store.unit() as uow:
            if not await uow.webhooks.claim(delivery_id=delivery.id, now=now, until=lease):
                return False  # another sender (process) has it, or it changed meanwhile
        async with self._limit:
            answer = await self._post(client, subscription, delivery, now)
        finished = self._clock.now()
        _record(delivery, answer, finished, self._settings, random.random())
        async with self._store.unit() as uow:
            await uow.webhooks.record_attempt(delivery=delivery)
        if delivery.status == WebhookDeliveryStatus.FAILED:
            log.warning("webhook %s: delivery %s failed for good: %s", subscription.id, delivery.id, answer.error)
        return answer.ok

    async def _post(
        self, client: httpx.AsyncClient, subscription: Subscription, delivery: WebhookDelivery, now: datetime
    ) -> Answer:
        body = body_of(delivery)
        headers = {
            **signed_headers(subscription.secret, int(now.timestamp()), body),
            EVENT_ID_HEADER: delivery.event_id,
            EVENT_TYPE_HEADER: delivery.event_type,
            DELIVERY_HEADER: str(delivery.id),
            "User-Agent": f"evscada/{__version__}",
        }
        try:
            # Streamed and closed unread: the receiver's body is not ours to hold, however large it is.
            async with client.stream("POST", subscription.url, content=body, headers=headers) as response:
                status = response.status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Answer(None, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= status < 300:
            return Answer(status, None)
        return Answer(status, f"HTTP {status}")


def _record(delivery: WebhookDelivery, answer: Answer, now: datetime, settings: WebhookSettings, rand: float) -> None:
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = answer.status_code
    delivery.last_error = answer.error
    if answer.ok:
        delivery.status = WebhookDeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif (now - delivery.created_at).total_seconds() >= settings.max_age:
        delivery.status = WebhookDeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff(delivery.attempts, settings, rand))
