"""Webhook subscriptions and their delivery log: third parties hear of events over HTTP, nothing is lost."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

from evscada.core.errors import InvalidArgument, UnknownDelivery, UnknownSubscription
from evscada.core.model import StationId, TransactionPk
from evscada.core.ports import Clock, Store

# Event types are "<resource>.<what happened>"; a subscription names types or "<resource>.*" or "*", so alarm.* and
# station.* types added later reach the subscribers that asked for them without a schema change.
TRANSACTION_STARTED = "transaction.started"
TRANSACTION_ENDED = "transaction.ended"
PING = "ping"  # sent only on request (POST .../ping), never matched by a pattern
EVENT_TYPES: tuple[str, ...] = (TRANSACTION_STARTED, TRANSACTION_ENDED)


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(slots=True)
class Subscription:
    id: int
    url: str
    events: list[str]
    secret: str
    active: bool = True
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def wants(self, event_type: str) -> bool:
        return any(pattern_matches(pattern, event_type) for pattern in self.events)


@dataclass(slots=True)
class WebhookDelivery:
    """One event posted to one subscription, with its attempts (a message to a person is a notification Delivery)."""

    id: int
    subscription_id: int
    event_id: str  # the same for every delivery of one event, redeliveries too: receivers deduplicate on it
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    status: WebhookDeliveryStatus = WebhookDeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event written in the same database transaction as the change it reports; dispatched to subscribers."""

    id: int
    event_type: str
    station_id: StationId
    transaction_pk: TransactionPk | None
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


class OutboxRepository(Protocol):
    async def add(
        self,
        *,
        event_type: str,
        station_id: StationId,
        transaction_pk: TransactionPk | None,
        occurred_at: datetime,
        data: dict[str, Any] | None = None,
    ) -> None: ...

    async def pending(self, *, limit: int) -> list[OutboxEvent]:
        """Oldest first."""
        ...

    async def remove(self, *, ids: Sequence[int]) -> None: ...


class WebhookRepository(Protocol):
    async def add(self, *, subscription: Subscription) -> Subscription:
        """Insert; assigns id and timestamps."""
        ...

    async def get(self, *, subscription_id: int) -> Subscription | None: ...

    async def list(self, *, active_only: bool = False) -> list[Subscription]: ...

    async def save(self, *, subscription: Subscription) -> None: ...

    async def delete(self, *, subscription_id: int) -> bool: ...

    async def add_deliveries(self, *, deliveries: Sequence[WebhookDelivery]) -> list[WebhookDelivery]: ...

    async def delivery(self, *, subscription_id: int, delivery_id: int) -> WebhookDelivery | None: ...

    async def deliveries(
        self, *, subscription_id: int, status: WebhookDeliveryStatus | None, limit: int, offset: int
    ) -> list[WebhookDelivery]:
        """Newest first."""
        ...

    async def pending_heads(self, *, subscription_id: int | None = None) -> list[WebhookDelivery]:
        """Per active subscription, its oldest pending delivery: deliveries go out in order, one at a time."""
        ...

    async def claim(self, *, delivery_id: int, now: datetime, until: datetime) -> bool: ...

    async def record_attempt(self, *, delivery: WebhookDelivery) -> None: ...


class WebhookUnit(Protocol):
    webhooks: WebhookRepository


def pattern_matches(pattern: str, event_type: str) -> bool:
    if event_type == PING:
        return False
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def check_event_patterns(patterns: Sequence[str]) -> list[str]:
    """The subscription's event list, deduplicated; every entry must match at least one known type."""
    if not patterns:
        raise InvalidArgument(f"name at least one event type: {', '.join(EVENT_TYPES)}, a 'resource.*' or '*'")
    for pattern in patterns:
        if not any(pattern_matches(pattern, known) for known in EVENT_TYPES):
            raise InvalidArgument(f"unknown event type {pattern!r}; known: {', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(patterns))


def check_url(url: str) -> str:
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidArgument("the webhook URL may hold no blanks or control characters; percent-encode them")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port out of range)
    except ValueError as exc:
        raise InvalidArgument(f"the webhook URL {url!r} is malformed: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(f"the webhook URL must be http:// or https:// with a host, not {url!r}")
    if parts.username or parts.password:
        raise InvalidArgument("put no credentials in the webhook URL; receivers check the signature instead")
    return url


def check_secret(secret: str) -> str:
    if not 16 <= len(secret) <= 200 or not secret.isprintable() or secret != secret.strip():
        raise InvalidArgument("a webhook secret is 16 to 200 printable characters without surrounding blanks")
    return secret


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def envelope(*, event_id: str, event_type: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The JSON body every webhook carries (docs/integration.md)."""
    return {"id": event_id, "type": event_type, "occurred_at": occurred_at.isoformat(), "data": data}


class WebhookService:
    """Subscriptions and the delivery log, for the API; sending is the integration's worker's job."""

    def __init__(self, *, store: Store[WebhookUnit], clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create(
        self, *, url: str, events: Sequence[str], secret: str | None, active: bool, description: str | None
    ) -> Subscription:
        """The returned subscription carries the secret: the only time a caller sees it."""
        subscription = Subscription(
            id=0,
            url=check_url(url),
            events=check_event_patterns(events),
            secret=new_secret() if secret is None else check_secret(secret),
            active=active,
            description=description,
        )
        async with self._store.unit() as uow:
            return await uow.webhooks.add(subscription=subscription)

    async def list(self) -> list[Subscription]:
        async with self._store.unit() as uow:
            return await uow.webhooks.list()

    async def get(self, *, subscription_id: int) -> Subscription:
        async with self._store.unit() as uow:
            return await _get(uow, subscription_id)

    async def update(self, *, subscription_id: int, changes: dict[str, Any]) -> Subscription:
        """Change url, events, secret, active or description; a new secret applies to the next attempt."""
        checks = {"url": check_url, "events": check_event_patterns, "secret": check_secret}
        checked = {key: checks[key](value) if key in checks else value for key, value in changes.items()}
        async with self._store.unit() as uow:
            subscription = replace(await _get(uow, subscription_id), **checked)
            await uow.webhooks.save(subscription=subscription)
            return await _get(uow, subscription_id)

    async def delete(self, *, subscription_id: int) -> None:
        async with self._store.unit() as uow:
            if not await uow.webhooks.delete(subscription_id=subscription_id):
                raise UnknownSubscription(f"no webhook {subscription_id}")

    async def deliveries(
        self, *, subscription_id: int, status: WebhookDeliveryStatus | None = None, limit: int = 100, offset: int = 0
    ) -> list[WebhookDelivery]:
        async with self._store.unit() as uow:
            await _get(uow, subscription_id)
            return await uow.webhooks.deliveries(
                subscription_id=subscription_id, status=status, limit=limit, offset=offset
            )

    async def delivery(self, *, subscription_id: int, delivery_id: int) -> WebhookDelivery:
        async with self._store.unit() as uow:
            return await _delivery(uow, subscription_id, delivery_id)

    async def redeliver(self, *, subscription_id: int, delivery_id: int) -> WebhookDelivery:
        """Send an event again as a new delivery with the same event id; the old entry stays in the log."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            old = await _delivery(uow, subscription_id, delivery_id)
            (new,) = await uow.webhooks.add_deliveries(
                deliveries=[
                    WebhookDelivery(
                        id=0,
                        subscription_id=subscription_id,
                        event_id=old.event_id,
                        event_type=old.event_type,
                        payload=old.payload,
                        created_at=now,
                        next_attempt_at=now,
                    )
                ]
            )
            return new

    async def ping(self, *, subscription_id: int) -> WebhookDelivery:
        """Queue a `ping` event to this subscription alone, to test the receiver and its signature check."""
        now = self._clock.now()
        event_id = new_event_id()
        async with self._store.unit() as uow:
            subscription = await _get(uow, subscription_id)
            payload = envelope(
                event_id=event_id, event_type=PING, occurred_at=now, data={"webhook_id": subscription.id}
            )
            (delivery,) = await uow.webhooks.add_deliveries(
                deliveries=[
                    WebhookDelivery(
                        id=0,
                        subscription_id=subscription_id,
                        event_id=event_id,
                        event_type=PING,
                        payload=payload,
                        created_at=now,
                        next_attempt_at=now,
                    )
                ]
            )
            return delivery


async def _get(uow: WebhookUnit, subscription_id: int) -> Subscription:
    subscription: Subscription | None = await uow.webhooks.get(subscription_id=subscription_id)
    if subscription is None:
        raise UnknownSubscription(f"no webhook {subscription_id}")
    return subscription


async def _delivery(uow: WebhookUnit, subscription_id: int, delivery_id: int) -> WebhookDelivery:
    await _get(uow, subscription_id)
    delivery: WebhookDelivery | None = await uow.webhooks.delivery(
        subscription_id=subscription_id, delivery_id=delivery_id
    )
    if delivery is None:
        raise UnknownDelivery(f"webhook {subscription_id} has no delivery {delivery_id}")
    return delivery
