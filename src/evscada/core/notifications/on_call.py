"""Who is on call: what the console and the API show of the notification settings' on-call schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """An unacknowledged alarm of `priorities` goes to `to` (people, groups, on_call, on_call:next) after this."""

    after_minutes: float
    to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OnCallNow:
    """The person on duty at `at`, and when and to whom the duty passes next (None: the schedule never changes,
    or not within the look-ahead)."""

    at: datetime
    time_zone: str
    person: str | None
    next_person: str | None = None  # whom `on_call:next` reaches now: the one after them in the rotation
    changes_at: datetime | None = None
    changes_to: str | None = None
    rotation: tuple[str, ...] = ()
    escalation_priorities: tuple[int, ...] = ()
    escalation: tuple[EscalationStep, ...] = field(default_factory=tuple)
