"""next_departure: the one-off while ahead, else the daily departure on the operator's clock, through summer time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from evscada.core.access.departures import local_instant, next_departure
from evscada.core.model import Vehicle, VehicleId

BERLIN = ZoneInfo("Europe/Berlin")
# Europe/Berlin in 2026: clocks go 02:00 -> 03:00 on 29 March, 03:00 -> 02:00 on 25 October.
SPRING = datetime(2026, 3, 29).date()
AUTUMN = datetime(2026, 10, 25).date()


def bus(
    departure_time: time | None = None, next_departure_at: datetime | None = None, name: str = "Bus 4101"
) -> Vehicle:
    return Vehicle(VehicleId(1), name, departure_time=departure_time, next_departure=next_departure_at)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_vehicle_nobody_gave_a_departure_has_none() -> None:
    assert next_departure(bus(), utc(2026, 6, 10, 10), BERLIN) is None


def test_the_daily_departure_is_later_today_or_else_tomorrow_on_the_operators_clock() -> None:
    leaves = bus(time(14, 0))

    assert next_departure(leaves, utc(2026, 6, 10, 10), BERLIN) == utc(2026, 6, 10, 12)  # 14:00 summer time
    assert next_departure(leaves, utc(2026, 6, 10, 12), BERLIN) == utc(2026, 6, 11, 12)  # leaving now: tomorrow's
    assert next_departure(leaves, utc(2026, 6, 10, 13), BERLIN) == utc(2026, 6, 11, 12)
    assert next_departure(leaves, utc(2026, 1, 10, 10), BERLIN) == utc(2026, 1, 10, 13)  # 14:00 winter time
    assert next_departure(leaves, utc(2026, 1, 10, 10), ZoneInfo("UTC")) == utc(2026, 1, 10, 14)


def test_the_answer_is_utc_whatever_zone_now_is_given_in() -> None:
    now = datetime(2026, 6, 10, 23, 30, tzinfo=timezone(timedelta(hours=-7)))  # 11 June, 06:30 UTC

    found = next_departure(bus(time(4, 30)), now, BERLIN)

    assert found == utc(2026, 6, 12, 2, 30) and found is not None and found.tzinfo is UTC


def test_a_one_off_departure_wins_while_it_is_ahead_then_the_timetable_again() -> None:
    one_off = utc(2026, 6, 12, 18)
    leaves = bus(time(4, 30), one_off)

    # Ahead, it wins even over a daily departure that comes first.
    assert next_departure(leaves, utc(2026, 6, 10, 10), BERLIN) == one_off
    # At or after it, the timetable again.
    assert next_departure(leaves, one_off, BERLIN) == utc(2026, 6, 13, 2, 30)
    assert next_departure(leaves, utc(2026, 6, 12, 19), BERLIN) == utc(2026, 6, 13, 2, 30)
    # A one-off alone: none once it has passed.
    assert next_departure(bus(next_departure_at=one_off), utc(2026, 6, 12, 17), BERLIN) == one_off
    assert next_departure(bus(next_departure_at=one_off), utc(2026, 6, 12, 19), BERLIN) is None


def test_a_one_off_given_with_another_offset_comes_back_in_utc() -> None:
    one_off = datetime(2026, 6, 12, 20, tzinfo=BERLIN)

    assert next_departure(bus(next_departure_at=one_off), utc(2026, 6, 10), BERLIN) == utc(2026, 6, 12, 18)


def test_across_the_spring_change_the_departure_keeps_its_time_on_the_clock() -> None:
    leaves = bus(time(4, 30))

    saturday = next_departure(leaves, utc(2026, 3, 27, 12), BERLIN)
    sunday = next_departure(leaves, utc(2026, 3, 28, 12), BERLIN)

    assert saturday == utc(2026, 3, 28, 3, 30)  # 04:30 winter time (UTC+1)
    assert sunday == utc(2026, 3, 29, 2, 30)  # 04:30 summer time (UTC+2): 23 hours later
    assert sunday - saturday == timedelta(hours=23)
    assert sunday.astimezone(BERLIN).time() == time(4, 30)


def test_a_departure_in_the_hour_the_clock_skips_moves_forward_by_that_hour() -> None:
    leaves = bus(time(2, 30))  # does not exist on 29 March: the clock goes from 02:00 to 03:00

    found = next_departure(leaves, utc(2026, 3, 28, 12), BERLIN)

    assert found == utc(2026, 3, 29, 1, 30)
    assert found.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)
    # Before the gap on that day it is still ahead; the day after, 02:30 exists again.
    assert next_departure(leaves, utc(2026, 3, 29, 0, 59), BERLIN) == utc(2026, 3, 29, 1, 30)
    assert next_departure(leaves, utc(2026, 3, 29, 1, 30), BERLIN) == utc(2026, 3, 30, 0, 30)
    assert local_instant(SPRING, time(2, 0), BERLIN) == local_instant(SPRING, time(3, 0), BERLIN)


def test_across_the_autumn_change_the_departure_keeps_its_time_on_the_clock() -> None:
    leaves = bus(time(4, 30))

    saturday = next_departure(leaves, utc(2026, 10, 23, 12), BERLIN)
    sunday = next_departure(leaves, utc(2026, 10, 24, 12), BERLIN)

    assert saturday == utc(2026, 10, 24, 2, 30)  # summer time
    assert sunday == utc(2026, 10, 25, 3, 30)  # winter time: 25 hours later
    assert sunday - saturday == timedelta(hours=25)


def test_a_departure_in_the_hour_the_clock_shows_twice_is_the_first_of_them() -> None:
    leaves = bus(time(2, 30))  # 25 October: 02:30 summer time (00:30 UTC), then 02:30 winter time (01:30 UTC)

    assert next_departure(leaves, utc(2026, 10, 24, 12), BERLIN) == utc(2026, 10, 25, 0, 30)
    # Once the first has passed, the bus has left: the next is the day after, not the repeated hour.
    assert next_departure(leaves, utc(2026, 10, 25, 0, 45), BERLIN) == utc(2026, 10, 26, 1, 30)
    assert local_instant(AUTUMN, time(2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)


def test_a_time_of_day_given_with_an_offset_is_still_read_on_the_operators_clock() -> None:
    # The core refuses such a time on input; the function itself reads only the clock reading.
    aware = time(4, 30, tzinfo=ZoneInfo("America/New_York"))

    assert local_instant(datetime(2026, 6, 10).date(), aware, BERLIN) == utc(2026, 6, 10, 2, 30)


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"])
def test_over_many_random_moments_the_next_departure_is_the_first_one_after_now(zone: str) -> None:
    rng = random.Random(20)
    place = ZoneInfo(zone)
    start = utc(2025, 1, 1)
    for _ in range(600):
        now = start + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        at = time(rng.randrange(24), rng.choice((0, 15, 30, 45)))

        found = next_departure(bus(at), now, place)

        assert found is not None and found > now
        assert found - now <= timedelta(hours=25)  # at most a day, and the hour a clock goes back
        shown = found.astimezone(place)
        if shown.time() != at:  # only a time the clock skips is moved, and then forward by the gap
            naive = datetime.combine(shown.date(), at)
            assert naive.replace(tzinfo=place).astimezone(UTC).astimezone(place).replace(tzinfo=None) != naive
            assert shown.time() > at
        # Nothing earlier after now shows that time (but the repeat of an hour shown twice): none was skipped.
        earlier = found - timedelta(minutes=15)
        while earlier > now:
            seen = earlier.astimezone(place)
            assert seen.time() != at or seen.fold == 1
            earlier -= timedelta(minutes=15)
