"""Report periods on the operator's clock: a week from Monday 00:00, a month from the 1st 00:00, or a custom span.

Boundaries are local midnights turned into UTC instants, so a week that contains a summer-time change is 167 or 169
hours long: that is what the operator's calendar says. Pure functions: the caller gives the time and the zone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from evscada.core.errors import InvalidArgument

MAX_CUSTOM = timedelta(days=366)


class ReportKind(enum.StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CUSTOM = "custom"


@dataclass(frozen=True, slots=True)
class Period:
    kind: ReportKind
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    def label(self, zone: ZoneInfo) -> str:
        """How a person names the period: "week 2026-W13", "March 2026", or local dates."""
        first = self.start.astimezone(zone)
        if self.kind is ReportKind.WEEKLY:
            year, week, _ = first.isocalendar()
            return f"week {year}-W{week:02d}"
        if self.kind is ReportKind.MONTHLY:
            return first.strftime("%B %Y")
        last = self.end.astimezone(zone)
        return f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"

    def previous(self, zone: ZoneInfo) -> Period:
        """The period of the same kind just before this one (a custom period: the same length before it)."""
        if self.kind is ReportKind.WEEKLY:
            return week_of(self.start.astimezone(zone).date() - timedelta(days=7), zone)
        if self.kind is ReportKind.MONTHLY:
            return month_of(self.start.astimezone(zone).date() - timedelta(days=1), zone)
        return Period(ReportKind.CUSTOM, self.start - (self.end - self.start), self.start)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant of local midnight at the start of `day` (a zone that skips midnight: the first instant after)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def week_of(day: date, zone: ZoneInfo) -> Period:
    """The ISO week (Monday to Monday, local midnights) containing `day`."""
    monday = day - timedelta(days=day.weekday())
    return Period(ReportKind.WEEKLY, midnight(monday, zone), midnight(monday + timedelta(days=7), zone))


def month_of(day: date, zone: ZoneInfo) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(ReportKind.MONTHLY, midnight(first, zone), midnight(following, zone))


def custom(start: datetime, end: datetime) -> Period:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidArgument("a report period needs times with a UTC offset, e.g. 2026-03-01T00:00:00+01:00")
    if start >= end:
        raise InvalidArgument(f"the period's start ({start.isoformat()}) must be before its end ({end.isoformat()})")
    if end - start > MAX_CUSTOM:
        raise InvalidArgument(f"a custom period is at most {MAX_CUSTOM.days} days; make monthly reports instead")
    return Period(ReportKind.CUSTOM, start.astimezone(UTC), end.astimezone(UTC))


def period_containing(kind: ReportKind, at: datetime, zone: ZoneInfo) -> Period:
    day = at.astimezone(zone).date()
    if kind is ReportKind.WEEKLY:
        return week_of(day, zone)
    if kind is ReportKind.MONTHLY:
        return month_of(day, zone)
    raise InvalidArgument("only weekly and monthly periods follow the calendar; give a custom period's start and end")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When scheduled reports are made: the week's report on `weekday` (0 = Monday) at `hour`, the month's on the 1st at
    `hour`, both on the clock of `zone`, each for the period that has just ended."""

    zone: ZoneInfo
    weekly: bool = True
    weekday: int = 0
    monthly: bool = True
    hour: int = 6

    def due(self, now: datetime, *, catch_up: int = 1) -> list[Period]:
        """The finished periods whose report time has come by `now`: the last `catch_up` of each kind (a run missed
        while the CSMS was down is among them), oldest first. Whether each was made already is the caller's to check."""
        periods: list[Period] = []
        for kind in self.kinds:
            periods += self.due_of(kind, now, catch_up)
        return sorted(periods, key=lambda p: (p.start, p.kind))

    @property
    def kinds(self) -> list[ReportKind]:
        return [kind for kind, on in ((ReportKind.WEEKLY, self.weekly), (ReportKind.MONTHLY, self.monthly)) if on]

    def due_of(self, kind: ReportKind, now: datetime, catch_up: int) -> list[Period]:
        """The last `catch_up` finished periods of `kind` whose report time has come, oldest first."""
        found: list[Period] = []
        current = period_containing(kind, now, self.zone)
        candidate = current.previous(self.zone)
        while len(found) < catch_up:
            if self.runs_at(candidate) <= now:
                found.append(candidate)
            candidate = candidate.previous(self.zone)
        return list(reversed(found))

    def runs_at(self, period: Period) -> datetime:
        """When the report of a finished period is due: the first `weekday` (weekly) or the 1st (monthly) on or after
        the period's end, at `hour` local time."""
        first_day = period.end.astimezone(self.zone).date()
        if period.kind is ReportKind.WEEKLY:
            first_day += timedelta(days=(self.weekday - first_day.weekday()) % 7)
        return datetime.combine(first_day, time(self.hour), tzinfo=self.zone).astimezone(UTC)
