"""Notification settings: channels, people, groups, routes, on-call schedule and escalation, checked at start-up."""

from __future__ import annotations

import json
import re
from datetime import datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Channel = Literal["email", "webhook", "sms"]
CHANNELS: tuple[Channel, ...] = ("email", "webhook", "sms")
ON_CALL = "on_call"  # a route target: whoever is on duty when the message is made
ON_CALL_NEXT = "on_call:next"  # an escalation target: the one after them in the rotation
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
TEMPLATE_FIELDS = frozenset({"name", "phone", "email", "subject", "text", "priority", "count", "delivery_id"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpSettings(_Strict):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="starttls: upgrade a plain connection; tls: implicit TLS (usually port 465)"
    )
    username: str | None = None
    password: str | None = None
    from_address: str = "evscada@localhost"
    ca_file: Path | None = Field(None, description="CA bundle (PEM) that signs the server's certificate, if private")
    timeout: float = Field(15.0, gt=0, description="seconds for one delivery attempt")


class SmsGatewaySettings(_Strict):
    """An SMS or push gateway reached over HTTP; the body is a JSON template filled from the message."""

    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict, description="e.g. an Authorization header")
    body_template: str = '{"to": "{{phone}}", "text": "{{text}}"}'
    max_text_length: int = Field(320, ge=20, description="{{text}} is cut to this many characters")
    timeout: float = Field(10.0, gt=0)

    @field_validator("body_template")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            json.loads(value)
        except ValueError as exc:
            raise ValueError(f"body_template is not JSON: {exc}") from None
        unknown = set(PLACEHOLDER.findall(value)) - TEMPLATE_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholders {sorted(unknown)}; known: {sorted(TEMPLATE_FIELDS)}")
        return value


class Person(_Strict):
    name: str = Field(min_length=1, max_length=100)
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(None, max_length=32)
    webhook: str | None = Field(None, pattern=r"^https?://", description="a JSON POST, HMAC-signed")
    webhook_secret: str | None = Field(None, description="overrides notifications.webhook_secret for this person")

    def channels(self) -> list[Channel]:
        found: list[Channel] = []
        if self.email:
            found.append("email")
        if self.webhook:
            found.append("webhook")
        if self.phone:
            found.append("sms")
        return found


class Group(_Strict):
    name: str = Field(min_length=1, max_length=100)
    members: list[str] = Field(min_length=1)


class Route(_Strict):
    """Alarms of these priorities at these sites go to these people, groups or the on-call person."""

    priorities: list[int] = Field(default_factory=list, description="1-4; empty: every priority")
    sites: list[int | str] = Field(default_factory=list, description="site ids or names; empty: every site")
    to: list[str] = Field(min_length=1)
    channels: list[Channel] = Field(default_factory=list, description="empty: every channel the person has")

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if not 1 <= p <= 4]
        if bad:
            raise ValueError(f"priorities are 1 (critical) to 4 (info), not {bad}")
        return value


class Shift(_Strict):
    """Someone on duty: once from `start` to `end`, or every week on `days` from `from_time` to `to_time`."""

    person: str
    start: datetime | None = Field(None, description="local time in on_call.time_zone, no offset")
    end: datetime | None = None
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(default_factory=list)
    from_time: time = Field(time(0, 0), alias="from")
    to_time: time | None = Field(None, alias="to", description="earlier than `from`: the shift ends the next day")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_kind(self) -> Shift:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start is not None and self.days:
            raise ValueError("a shift is either once (start, end) or weekly (days, from, to), not both")
        if self.start is None and not self.days:
            raise ValueError("a shift needs start and end, or days")
        if self.start is not None and self.end is not None:
            if self.start.tzinfo is not None or self.end.tzinfo is not None:
                raise ValueError("write start and end without an offset: they are read in on_call.time_zone")
            if self.end <= self.start:
                raise ValueError("end must be after start")
        return self


class OnCall(_Strict):
    """Who is on duty when: explicit shifts win; otherwise the weekly (or every `handover_days`) rotation."""

    time_zone: str = "UTC"
    rotation: list[str] = Field(default_factory=list, description="people in turn, one per rotation period")
    rotation_start: datetime = Field(
        datetime(2024, 1, 1, 8, 0), description="local time when the first person's turn starts"
    )
    handover_days: float = Field(7, gt=0)
    shifts: list[Shift] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Berlin')") from None
        return value


class EscalationLevel(_Strict):
    after_minutes: float = Field(gt=0, description="since the alarm was raised")
    to: list[str] = Field(min_length=1)


class Escalation(_Strict):
    priorities: list[int] = Field(default_factory=lambda: [1], description="which priorities escalate")
    levels: list[EscalationLevel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> Escalation:
        times = [level.after_minutes for level in self.levels]
        if times != sorted(times):
            raise ValueError("escalation levels must come in order of after_minutes")
        return self


class NotificationSettings(_Strict):
    """[notifications] in the settings file; with no people nothing is sent."""

    smtp: SmtpSettings | None = None
    sms: SmsGatewaySettings | None = None
    webhook_secret: str | None = Field(None, description="signs every webhook unless the person has their own")
    webhook_timeout: float = Field(10.0, gt=0)
    people: list[Person] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    on_call: OnCall = Field(default_factory=lambda: OnCall.model_validate({}))
    escalation: Escalation = Field(default_factory=lambda: Escalation.model_validate({}))
    group_window_seconds: float = Field(30.0, ge=0, description="alarms raised within this go out as one message")
    rate_limit: int = Field(10, ge=1, description="messages per recipient per rate_period_minutes; more are folded")
    rate_period_minutes: float = Field(60.0, gt=0)
    retry_initial_seconds: float = Field(10.0, gt=0, description="first retry delay; doubles up to retry_max")
    retry_max_seconds: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _references(self) -> NotificationSettings:
        people = {p.name for p in self.people}
        groups = {g.name for g in self.groups}
        _unique("people", [p.name for p in self.people])
        _unique("groups", [g.name for g in self.groups])
        if people & groups:
            raise ValueError(f"names used for both a person and a group: {sorted(people & groups)}")
        for i, group in enumerate(self.groups):
            for member in group.members:
                if member not in people:
                    raise ValueError(f"groups[{i}] ({group.name}).members: unknown person {member!r}{_known(people)}")
        targets = people | groups
        for i, route in enumerate(self.routes):
            _check_targets(f"routes[{i}].to", route.to, targets, people, groups, allow_next=False)
        for i, level in enumerate(self.escalation.levels):
            _check_targets(f"escalation.levels[{i}].to", level.to, targets, people, groups, allow_next=True)
        for i, name in enumerate(self.on_call.rotation):
            if name not in people:
                raise ValueError(f"on_call.rotation[{i}]: unknown person {name!r}{_known(people)}")
        for i, shift in enumerate(self.on_call.shifts):
            if shift.person not in people:
                raise ValueError(f"on_call.shifts[{i}].person: unknown person {shift.person!r}{_known(people)}")
        for person in self.people:
            if person.webhook and not (person.webhook_secret or self.webhook_secret):
                raise ValueError(f"people ({person.name}): a webhook needs webhook_secret (the person's or global)")
        return self


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what}: {name!r} appears twice")
        seen.add(name)


def _known(people: set[str]) -> str:
    return f" (people: {', '.join(sorted(people))})" if people else " (no people are configured)"


def _check_targets(
    where: str, names: list[str], targets: set[str], people: set[str], groups: set[str], *, allow_next: bool
) -> None:
    specials = {ON_CALL, ON_CALL_NEXT} if allow_next else {ON_CALL}
    for name in names:
        if name not in targets and name not in specials:
            raise ValueError(
                f"{where}: unknown person or group {name!r} (people: {', '.join(sorted(people)) or 'none'}; "
                f"groups: {', '.join(sorted(groups)) or 'none'}; or {' / '.join(sorted(specials))})"
            )
