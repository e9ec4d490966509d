"""The notification outbox and delivery log, and pending escalations: what storage keeps for the notifier."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from evscada.core.model import AlarmId


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its first attempt or a retry
    HELD = "held"  # over the recipient's rate limit: folded into the next digest
    FOLDED = "folded"  # its alarms went out in a digest (folded_into)
    SENT = "sent"
    FAILED = "failed"  # refused for good (e.g. the address does not exist); kept with the error


@dataclass(slots=True)
class Delivery:
    """One message to one recipient over one channel, with its attempts (an event to a webhook subscription is a
    WebhookDelivery)."""

    id: int
    recipient: str
    channel: str  # email | webhook | sms
    address: str  # e-mail address, URL or phone number at the time the message was made
    kind: str  # alarm | digest | escalation | test
    subject: str
    body: str
    created_at: datetime
    next_attempt_at: datetime
    alarm_ids: tuple[AlarmId, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)  # what a webhook posts, besides subject and body
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    updated_at: datetime | None = None
    folded_into: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    recipient: str | None = None
    channel: str | None = None
    status: DeliveryStatus | None = None
    alarm_id: AlarmId | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0  # rows skipped from the newest: the second page starts at `limit`


@dataclass(slots=True)
class PendingEscalation:
    """A priority alarm not yet acknowledged: at `due_at` it goes to escalation level `level`."""

    alarm_id: AlarmId
    level: int
    due_at: datetime
    alarm: dict[str, Any]  # the alarm as the notifier last saw it, to write the message after a restart


class DeliveryRepository(Protocol):
    async def add(self, *, delivery: Delivery) -> Delivery:
        """Insert; assigns the id."""
        ...

    async def save(self, *, delivery: Delivery) -> None:
        """Write status, attempts, error and times."""
        ...

    async def due(self, *, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""
        ...

    async def next_attempt_at(self) -> datetime | None: ...

    async def held(self) -> list[Delivery]: ...

    async def fold(self, *, delivery_ids: list[int], into: int, at: datetime) -> None: ...

    async def add_escalation(self, *, escalation: PendingEscalation) -> None:
        """Insert or replace the alarm's escalation."""
        ...

    async def due_escalations(self, *, now: datetime) -> list[PendingEscalation]: ...

    async def next_escalation_at(self) -> datetime | None: ...

    async def remove_escalation(self, *, alarm_id: AlarmId) -> bool: ...

    async def list(self, *, where: DeliveryFilter) -> list[Delivery]:
        """Newest first."""
        ...
