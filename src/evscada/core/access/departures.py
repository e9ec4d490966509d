"""When a vehicle leaves next: what departure-aware charging plans towards.

A vehicle has a daily departure (a time of day on the operator's clock, the timetable) and may have a one-off
departure (an instant) that wins while it lies ahead. Pure functions: the caller gives the time and the zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from evscada.core.model import Vehicle


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the operator's clock shows `at` on `day`.

    On the spring-forward day a time in the gap does not exist on the clock: it moves forward by the gap's length
    (02:30 in Europe/Berlin is 03:30 summer time, 01:30 UTC). On the fall-back day a time shown twice means the
    first of them (02:30 summer time, 00:30 UTC). This is what zoneinfo does with fold=0."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone).astimezone(UTC)


def next_daily(at: time, now: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after `now` (aware) at which the operator's clock shows `at` (naive, a time of day)."""
    today = now.astimezone(zone).date()
    # From yesterday (a time in a gap at midnight moves into today) to two days on (a zone that once skipped a day).
    for offset in (-1, 0, 1, 2):
        candidate = local_instant(today + timedelta(days=offset), at, zone)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a time of day comes around within two days")


def next_departure(vehicle: Vehicle, now: datetime, zone: ZoneInfo) -> datetime | None:
    """When the vehicle leaves next (UTC), or None when nobody said: the one-off departure while it is after `now`,
    otherwise the next daily departure after `now` on the clock of `zone` (the operator's time zone)."""
    if vehicle.next_departure is not None and vehicle.next_departure > now:
        return vehicle.next_departure.astimezone(UTC)
    if vehicle.departure_time is None:
        return None
    return next_daily(vehicle.departure_time, now, zone)
