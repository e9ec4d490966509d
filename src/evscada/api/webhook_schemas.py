"""The HTTP contract of /api/v1/webhooks: subscriptions and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evscada.core.errors import InvalidArgument
from evscada.core.notifications.webhooks import (
    EVENT_TYPES,
    Subscription,
    WebhookDelivery,
    check_event_patterns,
    check_secret,
    check_url,
)

_EVENTS_HELP = f"event types ({', '.join(EVENT_TYPES)}), 'transaction.*' or '*' for every type, later ones too"


def _checked(check: Any, value: Any) -> Any:
    """The core's rule, as a pydantic error: the 422 then names the field."""
    if value is None:
        return value
    try:
        return check(value)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from exc


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="http:// or https:// address that receives the POSTs")
    events: list[str] = Field(min_length=1, max_length=50, description=_EVENTS_HELP)
    secret: str | None = Field(None, description="16-200 characters; generated when absent, shown once")
    active: bool = True
    description: str | None = Field(None, max_length=500)

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _checked(check_url, value)  # type: ignore[no-any-return]

    @field_validator("events")
    @classmethod
    def _valid_events(cls, value: list[str] | None) -> list[str] | None:
        return _checked(check_event_patterns, value)  # type: ignore[no-any-return]

    @field_validator("secret")
    @classmethod
    def _valid_secret(cls, value: str | None) -> str | None:
        return _checked(check_secret, value)  # type: ignore[no-any-return]


class WebhookPatch(BaseModel):
    """Only the fields given change; a new secret signs the next attempt on."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    events: list[str] | None = Field(None, min_length=1, max_length=50, description=_EVENTS_HELP)
    secret: str | None = None
    active: bool | None = None
    description: str | None = Field(None, max_length=500)

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _checked(check_url, value)  # type: ignore[no-any-return]

    @field_validator("events")
    @classmethod
    def _valid_events(cls, value: list[str] | None) -> list[str] | None:
        return _checked(check_event_patterns, value)  # type: ignore[no-any-return]

    @field_validator("secret")
    @classmethod
    def _valid_secret(cls, value: str | None) -> str | None:
        return _checked(check_secret, value)  # type: ignore[no-any-return]


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    description: str | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, s: Subscription) -> WebhookOut:
        return cls(
            id=s.id,
            url=s.url,
            events=s.events,
            active=s.active,
            description=s.description,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="shown only in this answer: store it to verify X-Evscada-Signature")


class WebhookDeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event_id: str
    event_type: str
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, d: WebhookDelivery) -> WebhookDeliveryOut:
        return cls(
            id=d.id,
            webhook_id=d.subscription_id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=str(d.status),
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_attempt_at=d.last_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
            payload=d.payload,
        )
