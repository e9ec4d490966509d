"""Campaign rules without a server: the maintenance window in the operator's zone (an injected clock), batches, and
the failure threshold's count and share."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from evscada.core.firmware.campaigns import CampaignService, _batches, _breach
from evscada.core.firmware.model import (
    Campaign,
    CampaignPlan,
    CampaignStatus,
    MaintenanceWindow,
    TargetSelection,
)
from evscada.core.model import StationId

NIGHT = MaintenanceWindow(time(22, 0), time(4, 0))  # spans midnight


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def plan(**changes: Any) -> CampaignPlan:
    values: dict[str, Any] = {
        "name": "p",
        "image_id": 1,
        "selection": TargetSelection(model="AC-22"),
        "pilot_size": 2,
        "batch_size": 3,
        "window": NIGHT,
        "max_failures": None,
        "max_failure_percent": None,
        **changes,
    }
    return CampaignPlan(**values)


def campaign(p: CampaignPlan) -> Campaign:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Campaign(1, p, CampaignStatus.RUNNING, None, 0, "t", at, at, {})


@pytest.mark.parametrize(
    ("clock", "inside"),
    [(time(21, 59), False), (time(22, 0), True), (time(23, 30), True), (time(3, 59), True), (time(4, 0), False)],
)
def test_a_window_across_midnight_holds_from_its_start_to_its_end(clock: time, inside: bool) -> None:
    assert NIGHT.contains(clock) is inside


def test_a_window_within_a_day() -> None:
    day = MaintenanceWindow(time(9, 0), time(17, 0))
    assert day.contains(time(9, 0)) and day.contains(time(16, 59))
    assert not day.contains(time(17, 0)) and not day.contains(time(8, 59))


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (datetime(2026, 1, 15, 21, 30, tzinfo=UTC), True),  # 22:30 in Berlin (CET): open
        (datetime(2026, 1, 15, 20, 30, tzinfo=UTC), False),  # 21:30 in Berlin: not yet, though 22:00 UTC is near
        (datetime(2026, 7, 15, 20, 30, tzinfo=UTC), True),  # 22:30 in Berlin (CEST)
        (datetime(2026, 7, 15, 2, 30, tzinfo=UTC), False),  # 04:30 in Berlin: closed
    ],
)
def test_the_window_is_read_in_the_operators_time_zone(utc: datetime, inside: bool) -> None:
    service = CampaignService(
        store=None,  # type: ignore[arg-type]  # the window needs only the clock and the zone
        clock=FixedClock(utc),
        firmware=None,  # type: ignore[arg-type]
        zone=ZoneInfo("Europe/Berlin"),
    )
    assert service.in_window(campaign(plan())) is inside
    assert service.in_window(campaign(plan(window=None))) is True


def test_a_pilot_comes_first_then_batches_in_station_order() -> None:
    stations = [StationId(f"S{n:02d}") for n in (7, 1, 3, 0, 5, 2, 4, 6)]
    batches = dict(_batches(stations, plan()))
    assert [s for s, b in sorted(batches.items()) if b == 0] == ["S00", "S01"]
    assert [batches[StationId(f"S{n:02d}")] for n in range(2, 8)] == [1, 1, 1, 2, 2, 2]
    no_pilot = dict(_batches(stations, plan(pilot_size=0, batch_size=4)))
    assert sorted(no_pilot.values()) == [0, 0, 0, 0, 1, 1, 1, 1]


def test_the_failure_threshold_counts_or_shares_and_says_which() -> None:
    assert _breach(plan(max_failures=2), failed=2, started=10) is None
    assert _breach(plan(max_failures=2), failed=3, started=10) == "3 stations failed, more than the 2 allowed"
    share = _breach(plan(max_failure_percent=20), failed=3, started=10)
    assert share is not None and "30 %" in share and "20 % allowed" in share
    assert _breach(plan(max_failure_percent=20), failed=2, started=10) is None
    assert _breach(plan(), failed=100, started=100) is None  # no threshold: never halts by itself
