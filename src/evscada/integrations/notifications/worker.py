"""The outbox worker: sends due messages with retries and backoff, releases rate-limited ones as digests, escalates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Mapping
from datetime import datetime, timedelta

from evscada.core.notifications.deliveries import Delivery, DeliveryStatus, PendingEscalation
from evscada.core.ports import Clock
from evscada.core.store import CoreStore, UnitOfWork
from evscada.integrations.notifications.channels import DeliveryError, Sender
from evscada.integrations.notifications.config import Channel, EscalationLevel, NotificationSettings
from evscada.integrations.notifications.messages import Text, compose
from evscada.integrations.notifications.routing import Recipients, Router

log = logging.getLogger(__name__)

_BATCH = 50  # messages read and attempted per pass
_IDLE = 60.0  # seconds between passes when nothing is due (new work wakes the worker at once)
_FAILED_PASS_PAUSE = 5.0


class RateLimiter:
    """At most `limit` messages per recipient in any `period`; remembered in memory (a restart starts afresh)."""

    def __init__(self, limit: int, period: timedelta) -> None:
        self._limit = limit
        self._period = period
        self._sent: dict[str, deque[datetime]] = defaultdict(deque)

    def allows(self, name: str, now: datetime) -> bool:
        sent = self._sent[name]
        while sent and sent[0] <= now - self._period:
            sent.popleft()
        return len(sent) < self._limit

    def record(self, name: str, now: datetime) -> None:
        self._sent[name].append(now)

    def free_at(self, name: str) -> datetime | None:
        sent = self._sent[name]
        return sent[0] + self._period if len(sent) >= self._limit else None


def new_deliveries(
    router: Router, recipients: Recipients, text: Text, *, kind: str, now: datetime, held: bool = False
) -> list[Delivery]:
    """One outbox row per recipient and channel."""
    rows = []
    for name in sorted(recipients):
        person = router.person(name)
        if person is None:
            continue
        for channel in sorted(recipients[name]):
            rows.append(
                Delivery(
                    id=0,
                    recipient=name,
                    channel=channel,
                    address=router.address(person, channel),
                    kind=kind,
                    subject=text.subject,
                    body=text.body,
                    created_at=now,
                    next_attempt_at=now,
                    alarm_ids=tuple(a["id"] for a in text.payload.get("alarms", [])),
                    payload=text.payload,
                    status=DeliveryStatus.HELD if held else DeliveryStatus.PENDING,
                    updated_at=now,
                )
            )
    return rows


class DeliveryWorker:
    def __init__(
        self,
        *,
        config: NotificationSettings,
        store: CoreStore,
        clock: Clock,
        router: Router,
        limiter: RateLimiter,
        senders: Mapping[str, Sender],
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._router = router
        self._limiter = limiter
        self._senders = senders
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database or a bug: log it and try again later; the outbox keeps every message meanwhile.
                log.exception("notifications: a delivery pass failed; retrying in %.0f s", _FAILED_PASS_PAUSE)
                delay = _FAILED_PASS_PAUSE
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    async def run_once(self) -> float:
        """One pass; the seconds until the next one is needed."""
        now = self._clock.now()
        next_held = await self._release_held(now)
        await self._escalate(now)
        full = await self._send_due(now)
        if full:
            return 0.0
        async with self._store.unit() as uow:
            times = [await uow.deliveries.next_attempt_at(), await uow.deliveries.next_escalation_at(), next_held]
        due = [t for t in times if t is not None]
        if not due:
            return _IDLE
        return min(_IDLE, max(0.0, (min(due) - self._clock.now()).total_seconds()))

    async def _send_due(self, now: datetime) -> bool:
        async with self._store.unit() as uow:
            due = await uow.deliveries.due(now=now, limit=_BATCH)
        if not due:
            return False
        try:
            await asyncio.gather(*(self._attempt(delivery) for delivery in due))
        except asyncio.CancelledError:  # stopping: what went out is recorded first, or a restart sends it again
            await self._record(due)
            raise
        await self._record(due)
        return len(due) == _BATCH

    async def _record(self, due: list[Delivery]) -> None:
        """Save the attempts' outcomes; a stop arriving meanwhile waits for the save (a message sent must be marked
        sent, else the next start sends it twice)."""
        save = asyncio.ensure_future(self._save(due))
        try:
            await asyncio.shield(save)
        except asyncio.CancelledError:
            await save
            raise

    async def _save(self, due: list[Delivery]) -> None:
        async with self._store.unit() as uow:
            for delivery in due:
                await uow.deliveries.save(delivery=delivery)

    async def _attempt(self, delivery: Delivery) -> None:
        sender = self._senders.get(delivery.channel)
        delivery.attempts += 1
        try:
            if sender is None:
                raise DeliveryError(f"the {delivery.channel} channel is not configured")
            await sender.send(delivery, timestamp=int(self._clock.now().timestamp()))
        except DeliveryError as exc:
            now = self._clock.now()
            delivery.last_error = str(exc)
            delivery.updated_at = now
            if exc.permanent:
                delivery.status = DeliveryStatus.FAILED
                log.warning("notifications: #%d to %s failed for good: %s", delivery.id, delivery.recipient, exc)
                return
            delay = min(
                self._config.retry_initial_seconds * 2 ** (delivery.attempts - 1), self._config.retry_max_seconds
            )
            delivery.next_attempt_at = now + timedelta(seconds=delay)
            log.info(
                "notifications: #%d to %s over %s failed (attempt %d), next in %.0f s: %s",
                delivery.id,
                delivery.recipient,
                delivery.channel,
                delivery.attempts,
                delay,
                exc,
            )
            return
        now = self._clock.now()
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = delivery.updated_at = now
        delivery.last_error = None

    async def _release_held(self, now: datetime) -> datetime | None:
        """Fold each recipient's held messages into one digest per channel once their rate limit allows."""
        async with self._store.unit() as uow:
            held = await uow.deliveries.held()
            by_recipient: dict[str, list[Delivery]] = defaultdict(list)
            for delivery in held:
                by_recipient[delivery.recipient].append(delivery)
            later: list[datetime] = []
            for name, rows in by_recipient.items():
                if not self._limiter.allows(name, now):
                    free = self._limiter.free_at(name)
                    if free is not None:
                        later.append(free)
                    continue
                by_channel: dict[str, list[Delivery]] = defaultdict(list)
                for row in rows:
                    by_channel[row.channel].append(row)
                for channel, same in by_channel.items():
                    alarms = {a["id"]: a for row in same for a in row.payload.get("alarms", [])}
                    note = f"{len(same)} messages were held back by the rate limit; together:"
                    text = compose(list(alarms.values()), kind="digest", note=note)
                    digest = new_deliveries(self._router, {name: {_channel(channel)}}, text, kind="digest", now=now)
                    for row in digest:
                        row.address = same[-1].address
                        added = await uow.deliveries.add(delivery=row)
                        await uow.deliveries.fold(delivery_ids=[r.id for r in same], into=added.id, at=now)
                self._limiter.record(name, now)
        return min(later) if later else None

    async def _escalate(self, now: datetime) -> None:
        levels = self._config.escalation.levels
        async with self._store.unit() as uow:
            for escalation in await uow.deliveries.due_escalations(now=now):
                await self._escalate_one(uow, escalation, now, levels)

    async def _escalate_one(
        self, uow: UnitOfWork, escalation: PendingEscalation, now: datetime, levels: list[EscalationLevel]
    ) -> None:
        deliveries = uow.deliveries
        if escalation.level >= len(levels):
            await deliveries.remove_escalation(alarm_id=escalation.alarm_id)
            return
        level = levels[escalation.level]
        recipients = self._router.expand(level.to, now)
        minutes = f"{level.after_minutes:g}"
        text = compose(
            [escalation.alarm],
            kind="escalation",
            note=f"Not acknowledged within {minutes} minutes (level {escalation.level + 1}).",
        )
        for row in new_deliveries(self._router, recipients, text, kind="escalation", now=now):
            await deliveries.add(delivery=row)
        log.warning(
            "notifications: alarm #%d not acknowledged, escalated to %s",
            escalation.alarm_id,
            ", ".join(recipients) or "nobody",
        )
        following = escalation.level + 1
        if following < len(levels):
            raised = datetime.fromisoformat(escalation.alarm["raised_at"])
            escalation.level = following
            escalation.due_at = max(now, raised + timedelta(minutes=levels[following].after_minutes))
            await deliveries.add_escalation(escalation=escalation)
        else:
            await deliveries.remove_escalation(alarm_id=escalation.alarm_id)


def _channel(name: str) -> Channel:
    return name  # type: ignore[return-value]  # read back from our own rows
