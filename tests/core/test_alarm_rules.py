"""Alarm rules as an operator writes them in the settings file: priorities, thresholds, per-site overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from evscada.core.alarms.conditions import abnormal_end
from evscada.core.alarms.rules import AlarmRules
from evscada.core.model import AlarmPriority
from evscada.settings import Settings

TOML = """
[alarms]
offline_after_seconds = 120
priorities = { offline = 3, "station_fault:OverVoltage" = 1 }

[alarms.sites."Depot North"]
offline_after_seconds = 30
priorities = { offline = 1 }

[alarms.sites."7"]
no_meter_values_after_minutes = 2
"""


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Settings:
    path = tmp_path / "evscada.toml"
    path.write_text(text)
    monkeypatch.setenv("EVSCADA_CONFIG", str(path))
    return Settings()


def test_the_settings_file_sets_priorities_and_thresholds_with_site_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = AlarmRules(_settings(tmp_path, monkeypatch, TOML).alarms)
    plain = rules.for_site(None)
    assert plain.thresholds.offline_after_seconds == 120 and plain.priority("offline") == AlarmPriority.MEDIUM
    assert plain.priority("station_fault", "OverVoltage") == AlarmPriority.CRITICAL
    assert plain.priority("station_fault", "GroundFailure") == AlarmPriority.CRITICAL  # a default kept
    assert plain.priority("station_fault", "WeakSignal") == AlarmPriority.HIGH  # the source's priority
    north = rules.for_site(3, "Depot North")
    assert north.thresholds.offline_after_seconds == 30 and north.priority("offline") == AlarmPriority.CRITICAL
    assert north.thresholds.silent_after_seconds == plain.thresholds.silent_after_seconds
    by_id = rules.for_site(7, "Garage")
    assert by_id.thresholds.no_meter_values_after_minutes == 2 and by_id.thresholds.offline_after_seconds == 120


def test_the_environment_can_set_the_alarm_rules_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVSCADA_ALARMS", '{"offline_after_seconds": 5, "enabled": false}')
    settings = Settings()
    assert settings.alarms.offline_after_seconds == 5 and settings.alarms.enabled is False


@pytest.mark.parametrize(
    "bad",
    [
        "[alarms]\npriorities = { offline = 5 }",
        "[alarms]\noffline_after_seconds = 0",
        "[alarms]\nofline_after_seconds = 10",
        '[alarms.sites."x"]\nflapping_reconnects = 1',
    ],
)
def test_a_wrong_rule_is_refused_with_its_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    with pytest.raises(ValidationError, match="alarms"):
        _settings(tmp_path, monkeypatch, bad)


@pytest.mark.parametrize(
    ("reason", "energy", "abnormal"),
    [
        ("EmergencyStop", 5000.0, True),
        ("PowerLoss", None, True),
        ("EVDisconnected", 0.0, True),
        ("EVDisconnected", 1200.0, False),
        ("Local", 0.0, True),
        ("Local", 10.0, False),
        ("Other", None, False),  # unknown energy: no reason to think it failed
        ("Remote", 0.0, False),
    ],
)
def test_which_session_ends_are_abnormal(reason: str, energy: float | None, abnormal: bool) -> None:
    assert (abnormal_end(reason, energy) is not None) is abnormal
