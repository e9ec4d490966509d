"""Notifications: the delivery log (what went to whom, how it went) and test messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field

from evscada.api.deps import Admin, Context, Notifications, Operator
from evscada.api.params import Id, Offset, Time
from evscada.core.model import AlarmId
from evscada.core.notifications.deliveries import Delivery, DeliveryFilter, DeliveryStatus
from evscada.core.notifications.on_call import OnCallNow

router = APIRouter(tags=["notifications"])


def get_notifier(context: Context) -> Notifications:
    return context.notifier


NotifierDep = Annotated[Notifications, Depends(get_notifier)]


class NotificationDeliveryOut(BaseModel):
    id: int
    recipient: str
    channel: str
    address: str
    kind: str = Field(description="alarm | digest | escalation | test")
    alarm_ids: list[int]
    subject: str
    body: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="when the next attempt is due (pending only)")
    sent_at: datetime | None
    folded_into: int | None = Field(description="the digest that carried this held message")

    @classmethod
    def of(cls, d: Delivery) -> NotificationDeliveryOut:
        return cls(
            id=d.id,
            recipient=d.recipient,
            channel=d.channel,
            address=d.address,
            kind=d.kind,
            alarm_ids=[int(a) for a in d.alarm_ids],
            subject=d.subject,
            body=d.body,
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at if d.status == DeliveryStatus.PENDING else None,
            sent_at=d.sent_at,
            folded_into=d.folded_into,
        )


class TestMessageIn(BaseModel):
    recipient: str = Field(min_length=1, max_length=100, description="a person's name from the settings")
    channel: Literal["email", "webhook", "sms"] | None = Field(None, description="absent: every channel they have")


@router.get("/notifications", response_model=list[NotificationDeliveryOut])
async def delivery_log(
    *,
    notifier: NotifierDep,
    _: Operator,
    recipient: str | None = None,
    channel: Literal["email", "webhook", "sms"] | None = None,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    alarm_id: Id | None = None,
    since: Time | None = None,
    until: Time | None = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="rows per page, 1 to 1000")] = 100,
    offset: Offset = 0,
) -> list[NotificationDeliveryOut]:
    """The delivery log, newest first: each message to each recipient and channel, its attempts and last error."""
    where = DeliveryFilter(
        recipient=recipient,
        channel=channel,
        status=status_,
        alarm_id=AlarmId(alarm_id) if alarm_id is not None else None,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return [NotificationDeliveryOut.of(d) for d in await notifier.deliveries(where=where)]


class EscalationStepOut(BaseModel):
    after_minutes: float
    to: list[str]


class OnCallOut(BaseModel):
    at: datetime
    time_zone: str = Field(description="the on-call schedule's time zone (on_call.time_zone)")
    person: str | None = Field(description="on duty now; null: nobody (no rotation and no shift now)")
    next_person: str | None = Field(description="whom on_call:next reaches now")
    changes_at: datetime | None = Field(description="when the duty passes to someone else (within 14 days)")
    changes_to: str | None
    rotation: list[str]
    escalation_priorities: list[int]
    escalation: list[EscalationStepOut]

    @classmethod
    def of(cls, now: OnCallNow) -> OnCallOut:
        return cls(
            at=now.at,
            time_zone=now.time_zone,
            person=now.person,
            next_person=now.next_person,
            changes_at=now.changes_at,
            changes_to=now.changes_to,
            rotation=list(now.rotation),
            escalation_priorities=list(now.escalation_priorities),
            escalation=[EscalationStepOut(after_minutes=s.after_minutes, to=list(s.to)) for s in now.escalation],
        )


@router.get("/notifications/on-call", response_model=OnCallOut)
async def on_call(notifier: NotifierDep, _: Operator) -> OnCallOut:
    """Who is on call now (shifts win over the rotation), who is next, when the duty changes hands, and the
    escalation levels an unacknowledged alarm goes through."""
    return OnCallOut.of(notifier.on_call())


@router.post("/notifications/test", response_model=list[NotificationDeliveryOut], status_code=status.HTTP_202_ACCEPTED)
async def send_test(notifier: NotifierDep, _: Admin, body: TestMessageIn) -> list[NotificationDeliveryOut]:
    """Queue a test message to a person (one channel or all of theirs); follow it in the delivery log."""
    rows = await notifier.send_test(recipient=body.recipient, channel=body.channel)
    return [NotificationDeliveryOut.of(d) for d in rows]
