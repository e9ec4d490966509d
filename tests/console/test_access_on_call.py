"""When the on-call duty changes hands, as the notifications tab shows it: rotation handovers and shift edges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from evscada.integrations.notifications.config import OnCall
from evscada.integrations.notifications.schedule import OnCallSchedule


def schedule(**config: Any) -> OnCallSchedule:
    return OnCallSchedule(OnCall.model_validate({"rotation_start": "2026-01-05T08:00:00", **config}))


def test_the_rotation_hands_over_at_its_next_turn() -> None:
    weekly = schedule(rotation=["alice", "bob"], handover_days=7)
    at = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)  # Wednesday of alice's first week
    assert weekly.on_duty(at) == "alice"
    assert weekly.next_change(at) == (datetime(2026, 1, 12, 8, 0, tzinfo=UTC), "bob")


def test_a_weekly_night_shift_takes_over_and_gives_back_in_the_schedules_time_zone() -> None:
    nights = schedule(
        time_zone="Europe/Berlin",
        rotation=["alice"],
        handover_days=7,
        shifts=[{"person": "carol", "days": ["fri"], "from": "18:00", "to": "06:00"}],
    )
    friday_noon = datetime(2026, 1, 9, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
    moment, person = nights.next_change(friday_noon) or (None, None)
    assert (
        person == "carol" and moment is not None and moment.astimezone(UTC) == datetime(2026, 1, 9, 17, 0, tzinfo=UTC)
    )
    during = datetime(2026, 1, 9, 23, 0, tzinfo=UTC)
    moment, person = nights.next_change(during) or (None, None)
    assert (
        person == "alice" and moment is not None and moment.astimezone(UTC) == datetime(2026, 1, 10, 5, 0, tzinfo=UTC)
    )


def test_nobody_and_no_change_without_a_rotation_or_shifts() -> None:
    empty = schedule()
    at = datetime(2026, 1, 7, tzinfo=UTC)
    assert empty.on_duty(at) is None and empty.next_change(at) is None
    once = schedule(shifts=[{"person": "dave", "start": "2026-01-08T00:00:00", "end": "2026-01-09T00:00:00"}])
    assert once.next_change(at) == (datetime(2026, 1, 8, tzinfo=UTC), "dave")
