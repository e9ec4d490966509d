"""The charging profiles a simulated station holds, and the limit they set: OCPP smart charging, version-neutral.

Connector (1.6) and EVSE (2.0.1) are one number here; 0 is the whole station. The station gets a `Cap` (watts,
amperes and phases, each as the profiles in force set it) and applies it at its real voltage; in watts (the
composite schedule), an ampere counts 230 V per phase (a DC station's nominal voltage on DC), on the period's
phases (3 unless it says), never more than the station has.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

VOLTS = 230.0  # per phase, on AC
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


@dataclass(frozen=True, slots=True)
class Cap:
    """What the profiles in force allow now; None: nothing limits that."""

    watts: float | None = None
    amps: float | None = None  # per phase on AC, at the output on DC
    phases: int | None = None  # the fewest phases a period in force allows

    def watts_at(self, volts: float, station_phases: int) -> float | None:
        """The cap in watts when an ampere counts `volts` on each phase it may use."""
        limits = [] if self.watts is None else [self.watts]
        if self.amps is not None:
            limits.append(self.amps * volts * min(self.phases or 3, station_phases))
        return min(limits) if limits else None


NO_CAP = Cap()


def period_at(profile: Profile, at: datetime, tx_start: datetime | None) -> Period | None:
    """The profile's period in force at `at`, or None if it sets no limit then."""
    start = schedule_start(profile, at, tx_start)
    if start is None or not valid_at(profile, at) or at < start:
        return None
    elapsed = (at - start).total_seconds()
    if profile.duration_s is not None and elapsed >= profile.duration_s:
        return None
    current = [p for p in profile.periods if p.start_s <= elapsed]
    return max(current, key=lambda p: p.start_s) if current else None


def _top(profiles: Iterable[Profile], at: datetime, tx_start: datetime | None) -> tuple[str, Period] | None:
    """Within one purpose: the unit and period of the highest stack level that sets a limit now."""
    for profile in sorted(profiles, key=lambda p: p.stack_level, reverse=True):
        period = period_at(profile, at, tx_start)
        if period is not None:
            return profile.unit, period
    return None


def _cap(limits: Iterable[tuple[str, Period]]) -> Cap:
    """Every limit holds at once: the least watts, the least amperes, the fewest phases."""
    watts = [p.limit for unit, p in limits if unit == "W"]
    amps = [p.limit for unit, p in limits if unit != "W"]
    phases = [p.phases for _, p in limits if p.phases]
    return Cap(min(watts, default=None), min(amps, default=None), min(phases, default=None))


class ChargingLimits:
    """The installed profiles per connector (0: the station), by profile id."""

    def __init__(self, *, phases: int, volts: float = VOLTS) -> None:
        self.phases = phases  # a DC station's is 1
        self.volts = volts
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

    def cap(self, connector: int, at: datetime, *, transaction: bool, tx_start: datetime | None = None) -> Cap:
        """What the profiles in force on a connector at `at` allow: min(station maximum, transaction limit)."""
        if not self._profiles:  # most stations, most of the time: every tick asks
            return NO_CAP
        by = self.profiles()
        station_max = _top((p for p in by if p.purpose is Purpose.STATION_MAX), at, tx_start)
        tx_limit = None
        if transaction:
            tx_limit = _top((p for p in by if p.purpose is Purpose.TX and p.connector == connector), at, tx_start)
        for where in (connector, 0):
            if tx_limit is None:
                defaults = (p for p in by if p.purpose is Purpose.TX_DEFAULT and p.connector == where)
                tx_limit = _top(defaults, at, tx_start)
        return _cap([limit for limit in (station_max, tx_limit) if limit is not None])

    def limit_w(
        self, connector: int, at: datetime, *, transaction: bool, tx_start: datetime | None = None
    ) -> float | None:
        """The limit in force on a connector at `at`, in watts at the nominal voltage; None: no profile limits it."""
        cap = self.cap(connector, at, transaction=transaction, tx_start=tx_start)
        return cap.watts_at(self.volts, self.phases)

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
            value = watts if unit == "W" else watts / (self.volts * self.phases)
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
