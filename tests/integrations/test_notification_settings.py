"""Notification settings refuse mistakes at start-up, naming the entry; the on-call schedule picks the right person."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from evscada.integrations.notifications.config import OnCall
from evscada.integrations.notifications.schedule import OnCallSchedule
from evscada.settings import Settings

PEOPLE = [{"name": "alice", "email": "alice@example.org"}, {"name": "bob", "phone": "+4917012345"}]


def settings(**notifications: Any) -> Settings:
    return Settings(notifications={"people": PEOPLE, **notifications})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("notifications", "expected"),
    [
        ({"routes": [{"to": ["alice"]}, {"to": ["zed"]}]}, "routes[1].to: unknown person or group 'zed'"),
        (
            {"groups": [{"name": "field", "members": ["alice", "eve"]}]},
            "groups[0] (field).members: unknown person 'eve'",
        ),
        ({"on_call": {"time_zone": "Europe/Berln"}}, "unknown time zone 'Europe/Berln'"),
        ({"on_call": {"rotation": ["alice", "carl"]}}, "on_call.rotation[1]: unknown person 'carl'"),
        ({"on_call": {"shifts": [{"person": "x", "days": ["mon"]}]}}, "on_call.shifts[0].person: unknown person 'x'"),
        ({"on_call": {"shifts": [{"person": "bob", "days": ["monday"]}]}}, "days.0"),
        ({"routes": [{"priorities": [0, 1], "to": ["alice"]}]}, "priorities are 1 (critical) to 4 (info)"),
        ({"escalation": {"levels": [{"after_minutes": 5, "to": ["nobody"]}]}}, "escalation.levels[0].to"),
        ({"routes": [{"to": ["on_call:next"]}]}, "unknown person or group 'on_call:next'"),
        ({"sms": {"url": "https://gw.example/send", "body_template": "{not json"}}, "body_template is not JSON"),
        ({"sms": {"url": "https://gw.example/send", "body_template": '{"x": "{{pin}}"}'}}, "unknown placeholders"),
        ({"people": [*PEOPLE, {"name": "hook", "webhook": "https://x.example"}]}, "a webhook needs webhook_secret"),
        ({"people": [*PEOPLE, {"name": "alice"}]}, "'alice' appears twice"),
        ({"smtp": {"security": "ssl"}}, "smtp.security"),
    ],
)
def test_a_misconfiguration_names_the_entry_that_is_wrong(notifications: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**notifications)
    assert expected in str(caught.value)


def test_the_settings_file_example_in_the_docs_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    example = docs.split("<!-- notifications-example -->")[1].split("```toml")[1].split("```")[0]
    (tmp_path / "evscada.toml").write_text(example)
    monkeypatch.setenv("EVSCADA_CONFIG", str(tmp_path / "evscada.toml"))
    loaded = Settings().notifications
    assert [p.name for p in loaded.people] == ["alice", "bob", "carol", "ops-board"]
    assert loaded.on_call.time_zone == "Europe/Berlin" and loaded.escalation.levels[0].to == ["on_call:next"]


def schedule(**on_call: Any) -> OnCallSchedule:
    return OnCallSchedule(OnCall.model_validate(on_call))


def berlin(text: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin"))


def test_a_weekly_rotation_hands_over_at_the_local_time() -> None:
    weekly = schedule(time_zone="Europe/Berlin", rotation=["alice", "bob", "carol"], rotation_start="2026-01-05T08:00")
    assert weekly.on_duty(berlin("2026-01-05T08:00")) == "alice"
    assert weekly.on_duty(berlin("2026-01-12T07:59")) == "alice"
    assert weekly.on_duty(berlin("2026-01-12T08:00")) == "bob"
    assert weekly.on_duty(datetime(2026, 1, 12, 7, 30, tzinfo=UTC)) == "bob"  # 08:30 in Berlin
    assert weekly.on_duty(berlin("2026-01-19T09:00")) == "carol"
    assert weekly.on_duty(berlin("2026-01-26T09:00")) == "alice"
    assert weekly.on_duty(berlin("2026-01-04T09:00")) == "carol"  # before the start it counts backwards
    # Summer time: the handover stays at 08:00 local.
    assert weekly.on_duty(berlin("2026-03-30T07:59")) == "carol"
    assert weekly.on_duty(berlin("2026-03-30T08:00")) == "alice"
    assert weekly.next_after(berlin("2026-01-12T09:00")) == "carol"


def test_explicit_shifts_win_over_the_rotation() -> None:
    shifts = schedule(
        time_zone="Europe/Berlin",
        rotation=["alice", "bob"],
        rotation_start="2026-01-05T08:00",
        shifts=[
            {"person": "carol", "start": "2026-12-24T18:00", "end": "2026-12-27T08:00"},
            {"person": "dave", "days": ["fri"], "from": "22:00", "to": "06:00"},
        ],
    )
    assert shifts.on_duty(berlin("2026-12-24T17:59")) != "carol"
    assert shifts.on_duty(berlin("2026-12-24T18:00")) == "carol"
    assert shifts.on_duty(berlin("2026-12-27T07:59")) == "carol"
    assert shifts.on_duty(berlin("2026-01-09T23:00")) == "dave"  # Friday night
    assert shifts.on_duty(berlin("2026-01-10T05:59")) == "dave"  # ... until Saturday 06:00
    assert shifts.on_duty(berlin("2026-01-10T06:00")) == "alice"
    assert shifts.on_duty(berlin("2026-01-08T23:00")) == "alice"  # Thursday night is no shift
    assert shifts.next_after(berlin("2026-01-09T23:00")) == "alice"  # during a shift: whose turn it is


def test_nobody_is_on_duty_without_a_schedule() -> None:
    assert schedule().on_duty(datetime(2026, 1, 1, tzinfo=UTC)) is None
