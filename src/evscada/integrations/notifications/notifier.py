"""The notifier: hears alarm changes on the bus, groups raises, routes them and fills the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from evscada.bus import Bus
from evscada.core.errors import InvalidArgument, UnknownRecipient
from evscada.core.events import AlarmChanged, Event
from evscada.core.model import Alarm, AlarmId, AlarmState, Site, Station
from evscada.core.notifications.deliveries import Delivery, DeliveryFilter, PendingEscalation
from evscada.core.notifications.on_call import EscalationStep, OnCallNow
from evscada.core.ports import Clock
from evscada.core.reports.service import Report
from evscada.core.store import CoreStore, UnitOfWork
from evscada.integrations.notifications.channels import EmailChannel, Sender, SmsChannel, WebhookChannel
from evscada.integrations.notifications.config import Channel, NotificationSettings
from evscada.integrations.notifications.messages import Text, alarm_facts, compose, probe_text
from evscada.integrations.notifications.routing import Recipients, Router
from evscada.integrations.notifications.worker import DeliveryWorker, RateLimiter, new_deliveries

log = logging.getLogger(__name__)

_STOPS_ESCALATION = frozenset({"acknowledged", "cleared", "shelved"})


class Notifier:
    """Owned by the Application: start() subscribes and starts the worker, stop() cancels both."""

    def __init__(self, *, config: NotificationSettings, store: CoreStore, bus: Bus, clock: Clock) -> None:
        self.config = config
        self._store = store
        self._bus = bus
        self._clock = clock
        self.router = Router(config)
        self._limiter = RateLimiter(config.rate_limit, timedelta(minutes=config.rate_period_minutes))
        self._senders: dict[str, Sender] = {}
        self._http: httpx.AsyncClient | None = None
        self.worker: DeliveryWorker | None = None
        self._batch: dict[AlarmId, Alarm] = {}  # raised within the grouping window, not yet routed
        self._tasks: set[asyncio.Task[None]] = set()
        self._stack = contextlib.AsyncExitStack()

    async def start(self) -> None:
        self._http = httpx.AsyncClient(follow_redirects=False)
        self._senders["webhook"] = WebhookChannel(self.config, self._http)
        if self.config.smtp is not None:
            self._senders["email"] = EmailChannel(self.config.smtp)
        if self.config.sms is not None:
            self._senders["sms"] = SmsChannel(self.config.sms, self.config, self._http)
        self.worker = DeliveryWorker(
            config=self.config,
            store=self._store,
            clock=self._clock,
            router=self.router,
            limiter=self._limiter,
            senders=self._senders,
        )
        # Subscribed before start returns; alarm changes are all it listens to.
        queue = await self._stack.enter_async_context(self._bus.subscribe(AlarmChanged))
        self._spawn(self._listen(queue), "notifications-listen")
        self._spawn(self.worker.run(), "notifications-deliver")
        await self._warn_unknown_sites()
        log.info(
            "notifications: %d people, %d groups, %d routes; channels: %s",
            len(self.config.people),
            len(self.config.groups),
            len(self.config.routes),
            ", ".join(sorted(self._senders)),
        )

    async def stop(self) -> None:
        """Alarms still in the grouping window are routed first, so a shutdown loses none that reached us."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._stack.aclose()
        if self._batch:
            with contextlib.suppress(Exception):  # the database may be what is failing; nothing more to do then
                await self._flush()
        if self._http is not None:
            await self._http.aclose()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self, queue: asyncio.Queue[Event]) -> None:
        while True:
            event = await queue.get()
            if isinstance(event, AlarmChanged):
                try:
                    await self.on_alarm(event)
                except Exception:
                    # One bad event must not end notifications for everyone; the log says which it was.
                    log.exception("%s: notifications could not handle alarm #%s", event.station_id, event.alarm.id)

    async def on_alarm(self, event: AlarmChanged) -> None:
        alarm = event.alarm
        # An alarm unshelved, or left standing when its station's maintenance ended, while still active and
        # unacknowledged is announced as if raised now (ISA-18.2).
        standing = alarm.state == AlarmState.ACTIVE and alarm.acknowledged_at is None
        if event.change == "raised" or (event.change in ("unshelved", "unsuppressed") and standing):
            if alarm.suppressed:
                log.debug("%s: alarm #%d raised in maintenance: not notified", event.station_id, alarm.id)
                return
            if alarm.shelved_until is not None and alarm.shelved_until > self._clock.now():
                log.debug("%s: alarm #%d is shelved: not notified", event.station_id, alarm.id)
                return
            first = not self._batch
            self._batch[alarm.id] = alarm
            if self.config.group_window_seconds <= 0:
                await self._flush()
            elif first:
                self._spawn(self._flush_later(), "notifications-group")
        elif event.change in _STOPS_ESCALATION:
            if event.change == "cleared" and alarm.id in self._batch:
                self._batch[alarm.id] = alarm  # still told, marked cleared
            else:
                self._batch.pop(alarm.id, None)
            async with self._store.unit() as uow:
                if await uow.deliveries.remove_escalation(alarm_id=alarm.id):
                    log.info("%s: alarm #%d %s: escalation stopped", event.station_id, alarm.id, event.change)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.config.group_window_seconds)
        await self._flush()

    async def _flush(self) -> None:
        """Route the alarms of the window: one message per recipient and channel, held back past the rate limit."""
        alarms, self._batch = list(self._batch.values()), {}
        if not alarms:
            return
        now = self._clock.now()
        async with self._store.unit() as uow:
            facts = [alarm_facts(a, *(await _place(uow, a))) for a in alarms]
            per_person: dict[str, dict[Channel, list[dict[str, Any]]]] = {}
            for item in facts:
                for name, channels in self.router.for_alarm(item, now).items():
                    for channel in channels:
                        per_person.setdefault(name, {}).setdefault(channel, []).append(item)
            rows: list[Delivery] = []
            for name, by_channel in sorted(per_person.items()):
                held = not self._limiter.allows(name, now)
                if not held:
                    self._limiter.record(name, now)
                for channel, items in by_channel.items():
                    text = compose(items, kind="alarm")
                    rows += new_deliveries(self.router, {name: {channel}}, text, kind="alarm", now=now, held=held)
            for row in rows:
                await uow.deliveries.add(delivery=row)
            for alarm, item in zip(alarms, facts, strict=True):
                if alarm.cause_id is None:  # a consequence escalates with its cause (ISA-18.2): one call per fault
                    await self._plan_escalation(uow, item, now)
        log.info("notifications: %d alarms -> %d messages", len(alarms), len(rows))
        self._wake()

    async def _plan_escalation(self, uow: UnitOfWork, facts: dict[str, Any], now: datetime) -> None:
        escalation = self.config.escalation
        if not escalation.levels or facts["priority"] not in escalation.priorities or facts["state"] != "active":
            return
        raised = datetime.fromisoformat(facts["raised_at"])
        due = max(now, raised + timedelta(minutes=escalation.levels[0].after_minutes))
        await uow.deliveries.add_escalation(
            escalation=PendingEscalation(alarm_id=AlarmId(facts["id"]), level=0, due_at=due, alarm=facts)
        )

    def _wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def send_test(self, *, recipient: str, channel: Channel | None = None) -> list[Delivery]:
        """Queue a test message to a person over one or all of their channels; the delivery log shows the outcome."""
        person = self.router.person(recipient)
        if person is None:
            raise UnknownRecipient(f"no person named {recipient!r} in the notification settings")
        usable = self.router.channels_of(person)
        if channel is not None and channel not in usable:
            raise InvalidArgument(
                f"{recipient} has no usable {channel} channel (they have: {', '.join(usable) or 'none'})"
            )
        if not usable:
            raise InvalidArgument(f"{recipient} has no usable channel (add an e-mail, phone or webhook)")
        now = self._clock.now()
        recipients: Recipients = {recipient: {channel} if channel else set(usable)}
        rows = new_deliveries(self.router, recipients, probe_text(recipient, now), kind="test", now=now)
        async with self._store.unit() as uow:
            for row in rows:
                await uow.deliveries.add(delivery=row)
        self._wake()
        return rows

    async def announce_report(self, report: Report, subscribers: Sequence[str], link: str | None) -> int:
        """E-mail the subscribers (people or groups) that a KPI report was made: its summary and a link to the
        console's download (the outbox carries text, not attachments). Returns the deliveries queued."""
        now = self._clock.now()
        groups = {group.name for group in self.config.groups}
        known = [name for name in subscribers if self.router.person(name) is not None or name in groups]
        for name in set(subscribers) - set(known):
            log.warning("report subscriber %r is neither a person nor a group in [notifications]", name)
        recipients = self.router.expand(known, now, ["email"])
        if not recipients:
            return 0
        lines = list(report.summary.get("summary", []))
        where = f"Download: {link}" if link else "Open Reports in the console to download it."
        body = "\n".join([report.title, "", *lines, "", where])
        text = Text(subject=report.title, body=body, payload={"report_id": report.id})
        rows = new_deliveries(self.router, recipients, text, kind="report", now=now)
        async with self._store.unit() as uow:
            for row in rows:
                await uow.deliveries.add(delivery=row)
        self._wake()
        return len(rows)

    def on_call(self) -> OnCallNow:
        """Who is on call now, who comes next and when the duty changes hands: for the console and the API."""
        now = self._clock.now()
        schedule = self.router.schedule
        change = schedule.next_change(now)
        escalation = self.config.escalation
        return OnCallNow(
            at=now,
            time_zone=self.config.on_call.time_zone,
            person=schedule.on_duty(now),
            next_person=schedule.next_after(now),
            changes_at=change[0] if change else None,
            changes_to=change[1] if change else None,
            rotation=tuple(self.config.on_call.rotation),
            escalation_priorities=tuple(escalation.priorities),
            escalation=tuple(EscalationStep(level.after_minutes, tuple(level.to)) for level in escalation.levels),
        )

    async def deliveries(self, *, where: DeliveryFilter) -> list[Delivery]:
        async with self._store.unit() as uow:
            return await uow.deliveries.list(where=where)

    async def _warn_unknown_sites(self) -> None:
        names = {s for route in self.config.routes for s in route.sites if isinstance(s, str)}
        ids = {s for route in self.config.routes for s in route.sites if isinstance(s, int)}
        if not names and not ids:
            return
        async with self._store.unit() as uow:
            sites = await uow.sites.list()
        unknown = (names - {s.name for s in sites}) | {str(i) for i in ids - {int(s.id) for s in sites}}
        if unknown:
            log.warning("notifications: routes name sites that do not exist (yet): %s", ", ".join(sorted(unknown)))


async def _place(uow: UnitOfWork, alarm: Alarm) -> tuple[Station | None, Site | None]:
    if alarm.station_id is None:
        return None, None
    station = await uow.stations.get(station_id=alarm.station_id)
    if station is None or station.site_id is None:
        return station, None
    return station, await uow.sites.get(site_id=station.site_id)
