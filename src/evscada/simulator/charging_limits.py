"""The charging profiles a simulated station holds, and the limit they set: OCPP smart charging, version-neutral.

Connector (1.6) and EVSE (2.0.1) are one number here; 0 is the whole station. Limits come out in watts: a limit
in amperes counts 230 V per phase, on the period's phases (3 unless it says), never more than the station has.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

VOLTS = 230.0
_CYCLE = {"Daily": timedelta(days=1), "Weekly": timedelta(weeks=1)}


class Purpose(enum.StrEnum):
    STATION_MAX = "StationMax"  # 1.6 ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile
    TX_DEFAULT = "TxDefault"
    TX = "Tx"


class Kind(enum.StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


@dataclass(frozen=True, slots=True)
class Period:
    start_s: int  # seconds from the schedule's start
    limit: float  # in the profile's unit
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    profile_id: int
    connector: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    unit: str  # "W" or "A"
    periods: tuple[Period, ...]
    start_schedule: datetime | None = None  # Absolute and Recurring
    recurrency: str | None = None  # "Daily" or "Weekly"
    duration_s: int | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction: str | None = None
    source: dict[str, Any] = field(default_factory=dict, compare=False)  # as the CSMS sent it, for reports


def from_ocpp(
    data: dict[str, Any],
    schedule: dict[str, Any],
    *,
    profile_id: int,
    connector: int,
    purpose: Purpose,
    transaction: str | None,
    received: datetime,
) -> Profile:
    """What a 1.6 csChargingProfiles and a 2.0.1 ChargingProfileType share (snake_case, as the handlers get them);
    the caller picks the fields the versions name differently."""
    kind = Kind(data["charging_profile_kind"])
    start = schedule.get("start_schedule")
    return Profile(
        profile_id=profile_id,
        connector=connector,
        stack_level=int(data["stack_level"]),
        purpose=purpose,
        kind=kind,
        unit=schedule["charging_rate_unit"],
        periods=tuple(
            Period(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
            for p in schedule["charging_schedule_period"]
        ),
        # An Absolute schedule without a start starts when it arrives.
        start_schedule=_time(start) if start else (received if kind is Kind.ABSOLUTE else None),
        recurrency=data.get("recurrency_kind"),
        duration_s=schedule.get("duration"),
        valid_from=_time(data.get("valid_from")),
        valid_to=_time(data.get("valid_to")),
        transaction=transaction,
        source=data,
    )


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def valid_at(profile: Profile, at: datetime) -> bool:
    return (profile.valid_from is None or profile.valid_from <= at) and (
        profile.valid_to is None or at < profile.valid_to
    )


def schedule_start(profile: Profile, at: datetime, tx_start: datetime | None) -> datetime | None:
    """When the schedule in force at `at` began: None if it has no start yet (Relative without a transaction)."""
    if profile.kind is Kind.RELATIVE:
        return tx_start
    if profile.start_schedule is None:
        return None
    if profile.kind is Kind.RECURRING:
        if at < profile.start_schedule:
            return None
        cycle = _CYCLE.get(profile.recurrency or "Daily", _CYCLE["Daily"])
        return at - (at - profile.start_schedule) % cycle
    return profile.start_schedule


def to_watts(limit: float, unit: str, phases: int | None, station_phases: int) -> float:
    if unit == "W":
        return limit
    return limit * VOLTS * min(phases or 3, station_phases)


def profile_limit_w(profile: Profile, at: datetime, tx_start: datetime | None, station_phases: int) -> float | None:
    """The profile's limit at `at` in watts, or None if it sets none then."""
    start = schedule_start(profile, at, tx_start)
    if start is None or not valid_at(profile, at) or at < start:
        return None
    elapsed = (at - start).total_seconds()
    if profile.duration_s is not None and elapsed >= profile.duration_s:
        return None
    current = [p for p in profile.periods if p.start_s <= elapsed]
    if not current:
        return None
    period = max(current, key=lambda p: p.start_s)
    return to_watts(period.limit, profile.unit, period.phases, station_phases)


def _top(profiles: Iterable[Profile], at: datetime, tx_start: datetime | None, phases: int) -> float | None:
    """Within one purpose: the limit of the highest stack level that sets one now."""
    for profile in sorted(profiles, key=lambda p: p.stack_level, reverse=True):
        limit = profile_limit_w(profile, at, tx_start, phases)
        if limit is not None:
            return limit
    return None


class ChargingLimits:
    """The installed profiles per connector (0: the station), by profile id."""

    def __init__(self, *, phases: int) -> None:
        self.phases = phases
        self._profiles: dict[int, Profile] = {}
        self.started: dict[int, datetime] = {}  # when each connector's running transaction started

    def transaction_started(self, connector: int, at: datetime) -> None:
        self.started[connector] = at

    def profiles(self) -> list[Profile]:
        return list(self._profiles.values())

    def install(self, profile: Profile) -> None:
        """A profile replaces one with its id, and one of the same stack level and purpose on its connector."""
        for old in self.profiles():
            same_slot = (old.connector, old.stack_level, old.purpose) == (
                profile.connector,
                profile.stack_level,
                profile.purpose,
            )
            if old.profile_id == profile.profile_id or same_slot:
                del self._profiles[old.profile_id]
        self._profiles[profile.profile_id] = profile

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: Purpose | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """Clear by id, or every profile matching the criteria given (none: all); True if any was cleared."""
        if profile_id is not None:
            return self._profiles.pop(profile_id, None) is not None
        gone = [
            p.profile_id
            for p in self.profiles()
            if (connector is None or p.connector == connector)
            and (purpose is None or p.purpose is purpose)
            and (stack_level is None or p.stack_level == stack_level)
        ]
        for profile_id_ in gone:
            del self._profiles[profile_id_]
        return bool(gone)

    def transaction_ended(self, connector: int) -> None:
        """A TxProfile lives as long as its transaction."""
        self.started.pop(connector, None)
        self.clear(connector=connector, purpose=Purpose.TX)

    def limit_w(
        self, connector: int, at: datetime, *, transaction: bool, tx_start: datetime | None = None
    ) -> float | None:
        """The limit in force on a connector at `at`, in watts; None: no profile limits it."""
        if not self._profiles:  # most stations, most of the time: every meter sample asks
            return None
        by = self.profiles()
        station_max = _top((p for p in by if p.purpose is Purpose.STATION_MAX), at, tx_start, self.phases)
        tx_limit = None
        if transaction:
            tx_limit = _top(
                (p for p in by if p.purpose is Purpose.TX and p.connector == connector), at, tx_start, self.phases
            )
        for where in (connector, 0):
            if tx_limit is None:
                defaults = (p for p in by if p.purpose is Purpose.TX_DEFAULT and p.connector == where)
                tx_limit = _top(defaults, at, tx_start, self.phases)
        limits = [limit for limit in (station_max, tx_limit) if limit is not None]
        return min(limits) if limits else None

    def composite(
        self,
        connector: int,
        at: datetime,
        duration_s: int,
        *,
        unit: str,
        ceiling_w: float,
        transaction: bool,
        tx_start: datetime | None = None,
    ) -> list[tuple[int, float]]:
        """(startPeriod, limit) from `at` for `duration_s` seconds, in `unit`, never above `ceiling_w`."""
        end = at + timedelta(seconds=duration_s)
        moments = sorted({t for t in self._changes(at, end, tx_start) if at < t < end})
        periods: list[tuple[int, float]] = []
        for moment in [at, *moments]:
            watts = self.limit_w(connector, moment, transaction=transaction, tx_start=tx_start)
            watts = ceiling_w if watts is None else min(watts, ceiling_w)
            value = watts if unit == "W" else watts / (VOLTS * self.phases)
            value = round(value, 1)
            offset = int((moment - at).total_seconds())
            if not periods or periods[-1][1] != value:
                if periods and periods[-1][0] == offset:
                    periods.pop()
                periods.append((offset, value))
        return periods

    def _changes(self, at: datetime, end: datetime, tx_start: datetime | None) -> Iterable[datetime]:
        """Every moment in [at, end) a limit may change: period starts, schedule ends, validity bounds."""
        for profile in self.profiles():
            yield from (t for t in (profile.valid_from, profile.valid_to) if t is not None)
            start = schedule_start(profile, at, tx_start)
            if start is None and profile.kind is not Kind.RELATIVE:
                start = profile.start_schedule  # a recurring schedule yet to begin
            if start is None:
                continue
            cycle = _CYCLE.get(profile.recurrency or "Daily") if profile.kind is Kind.RECURRING else None
            while start < end:
                yield from (start + timedelta(seconds=p.start_s) for p in profile.periods)
                if profile.duration_s is not None:
                    yield start + timedelta(seconds=profile.duration_s)
                if cycle is None:
                    break
                start += cycle
