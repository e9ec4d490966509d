"""Charging profiles, version-neutral: the model, the rules each OCPP version sets, and the station's own limits.

A profile is checked before anything is sent, so that a bad one is refused with the field that breaks a rule
(`InvalidArgument` with its `field`, a 422 at the API) instead of a Rejected the operator cannot explain. The rules:

- every version: stack level >= 0; limits and the minimum rate >= 0; periods start at 0 and increase, within the
  duration and within a Recurring profile's cycle; Absolute and Recurring have a start, Relative has none;
  Recurring has a recurrency, the others none; valid_from before valid_to, valid_to in the future; a Tx profile
  names a transaction (a remote start's profile does not: its transaction does not exist yet), other purposes none;
  ChargingStationExternalConstraints is the station's own and never sent;
- 1.6: ChargePointMax only on connector 0 and Tx never on it; the transaction id is an integer; limits have one
  decimal (the schema's multipleOf 0.1); no phase_to_use;
- 2.0.1: ChargingStationMax only on EVSE 0 and Tx never on it; phase_to_use only with one phase, and only when the
  station says it can switch phases;
- the station's limits, where the CSMS knows them (`StationLimits`): periods per schedule, rate units, the highest
  stack level, and how many profiles it holds.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from evscada.core.errors import InvalidArgument
from evscada.core.stations.device_model import DeviceVariable


class ProfilePurpose(enum.StrEnum):
    STATION_MAX = "ChargingStationMax"  # 1.6 ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile
    TX_DEFAULT = "TxDefault"
    TX = "Tx"
    EXTERNAL_CONSTRAINTS = "ChargingStationExternalConstraints"  # 2.0.1, set by a local energy manager: read only


class ProfileKind(enum.StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"  # from the start of the transaction


class Recurrency(enum.StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(enum.StrEnum):
    AMPERES = "A"  # per phase
    WATTS = "W"


CYCLE = {Recurrency.DAILY: timedelta(days=1), Recurrency.WEEKLY: timedelta(weeks=1)}


@dataclass(frozen=True, slots=True)
class SchedulePeriod:
    start_s: int  # seconds from the schedule's start
    limit: float  # in the schedule's unit
    phases: int | None = None  # absent: 3 on AC
    phase_to_use: int | None = None  # 2.0.1, with phases == 1: which phase


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    start: datetime | None = None  # Absolute and Recurring
    duration_s: int | None = None  # absent: the last period lasts until the profile ends
    min_charging_rate: float | None = None


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: ProfilePurpose
    kind: ProfileKind
    schedule: ChargingSchedule
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None  # the station's transaction id, for a Tx profile


@dataclass(frozen=True, slots=True)
class StationLimits:
    """What a station says it takes, as far as the CSMS has read it; None: not known, so not checked."""

    max_periods: int | None = None  # 1.6 ChargingScheduleMaxPeriods, 2.0.1 PeriodsPerSchedule
    rate_units: frozenset[RateUnit] | None = None  # 1.6 ChargingScheduleAllowedChargingRateUnit, 2.0.1 RateUnit
    max_stack_level: int | None = None  # 1.6 ChargeProfileMaxStackLevel, 2.0.1 ProfileStackLevel
    max_profiles: int | None = None  # 1.6 MaxChargingProfilesInstalled, 2.0.1 Entries (its maxLimit)
    phase_switching: bool | None = None  # 2.0.1 ACPhaseSwitchingSupported
    source: str = "not read yet"  # where they were read, for messages

    @property
    def known(self) -> bool:
        return any(v is not None for v in (self.max_periods, self.rate_units, self.max_stack_level, self.max_profiles))


UNKNOWN_LIMITS = StationLimits()

# 1.6 configuration keys (what a GetConfiguration answer holds) and 2.0.1 SmartChargingCtrlr variables.
KEYS_16 = (
    "ChargingScheduleMaxPeriods",
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargeProfileMaxStackLevel",
    "MaxChargingProfilesInstalled",
)
SMART_CHARGING_CTRLR = "SmartChargingCtrlr"
_UNIT_WORDS = {"current": RateUnit.AMPERES, "a": RateUnit.AMPERES, "power": RateUnit.WATTS, "w": RateUnit.WATTS}


def _integer(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:  # a station's odd value is no limit we can check against
        return None


def _units(value: str | None) -> frozenset[RateUnit] | None:
    if value is None:
        return None
    units = frozenset(_UNIT_WORDS[w] for w in value.replace(" ", "").lower().split(",") if w in _UNIT_WORDS)
    return units or None


def limits_from_keys(keys: Mapping[str, str | None], source: str) -> StationLimits:
    """A 1.6 station's limits from the values of its configuration keys."""
    return StationLimits(
        max_periods=_integer(keys.get("ChargingScheduleMaxPeriods")),
        rate_units=_units(keys.get("ChargingScheduleAllowedChargingRateUnit")),
        max_stack_level=_integer(keys.get("ChargeProfileMaxStackLevel")),
        max_profiles=_integer(keys.get("MaxChargingProfilesInstalled")),
        source=source,
    )


def limits_from_variables(variables: Iterable[DeviceVariable]) -> StationLimits:
    """A 2.0.1 station's limits from its reported SmartChargingCtrlr variables (their Actual values)."""
    actual = {v.variable: v for v in variables if v.component == SMART_CHARGING_CTRLR and v.attribute_type == "Actual"}

    def value(name: str) -> str | None:
        return actual[name].value if name in actual else None

    # Entries is how many profiles are installed; its characteristics' maxLimit is how many may be.
    entries = actual.get("Entries")
    switching = value("ACPhaseSwitchingSupported")
    return StationLimits(
        max_periods=_integer(value("PeriodsPerSchedule")),
        rate_units=_units(value("RateUnit")),
        max_stack_level=_integer(value("ProfileStackLevel")),
        max_profiles=int(entries.max_limit) if entries is not None and entries.max_limit is not None else None,
        phase_switching=None if switching is None else switching.lower() == "true",
        source="its device model report",
    )


def is_201(version: str | None) -> bool:
    """2.0.1 rules (2.1 sends the same messages); None: the version is not known yet."""
    return version is not None and version.startswith("2")


def is_16(version: str | None) -> bool:
    return version == "1.6"


class _Check:
    """Raises the first broken rule, naming the field: the profile's fields under `root`, the others as given."""

    def __init__(self, root: str) -> None:
        self._root = root

    def __call__(self, ok: bool, field: str, message: str, *, rooted: bool = True) -> None:
        if not ok:
            path = f"{self._root}.{field}" if self._root and rooted else field
            raise InvalidArgument(f"{path}: {message}", field=path)


def validate(
    profile: ChargingProfile,
    *,
    evse_id: int | None,
    version: str | None,
    now: datetime,
    limits: StationLimits = UNKNOWN_LIMITS,
    others_installed: int | None = None,
    remote_start: bool = False,
    root: str = "",
) -> None:
    """Raise InvalidArgument (naming the field) for the first rule `profile` breaks on `evse_id` (None: the station
    chooses, in a remote start) of a station of `version`.

    others_installed: the profiles the station holds that this one does not replace (None: not known).
    remote_start: the profile comes with a remote start (a Tx profile for the transaction about to start).
    root: where the profile sits in the request ("charging_profile" in a remote start), for the field path.
    """
    check = _Check(root)
    _check_profile(check, profile, evse_id=evse_id, version=version, now=now, remote_start=remote_start)
    _check_schedule(check, profile, version)
    _check_station(check, profile, limits, others_installed)


def _check_profile(
    check: _Check, p: ChargingProfile, *, evse_id: int | None, version: str | None, now: datetime, remote_start: bool
) -> None:
    check(p.id >= 1, "id", "must be 1 or more")
    check(p.stack_level >= 0, "stack_level", "must be 0 or more")
    check(
        p.purpose is not ProfilePurpose.EXTERNAL_CONSTRAINTS,
        "purpose",
        "ChargingStationExternalConstraints is set by the station's local energy manager, never by the CSMS",
    )
    if remote_start:
        check(p.purpose is ProfilePurpose.TX, "purpose", "a remote start carries a Tx profile only")
        check(
            p.transaction_id is None,
            "transaction_id",
            "a remote start's profile has none: its transaction has not started",
        )
    elif p.purpose is ProfilePurpose.TX:
        check(p.transaction_id is not None, "transaction_id", "a Tx profile names the transaction it limits")
    else:
        check(p.transaction_id is None, "transaction_id", f"only a Tx profile names a transaction, not {p.purpose}")
    if is_16(version) and p.transaction_id is not None:
        check(p.transaction_id.isdigit(), "transaction_id", "a 1.6 transaction id is an integer")
    if evse_id is not None:
        _check_place(check, p, evse_id, "connector" if is_16(version) else "EVSE")
    if p.kind is ProfileKind.RECURRING:
        check(p.recurrency is not None, "recurrency", "a Recurring profile is Daily or Weekly")
    else:
        check(p.recurrency is None, "recurrency", f"only a Recurring profile recurs, not an {p.kind} one")
    if p.valid_from is not None and p.valid_to is not None:
        check(p.valid_from < p.valid_to, "valid_to", "must be after valid_from")
    if p.valid_to is not None:
        check(p.valid_to > now, "valid_to", "is past: the profile would never apply")


def _check_place(check: _Check, p: ChargingProfile, evse_id: int, place: str) -> None:
    check(evse_id >= 0, "evse_id", "must be 0 (the whole station) or more", rooted=False)
    if p.purpose is ProfilePurpose.STATION_MAX:
        check(
            evse_id == 0,
            "evse_id",
            f"a ChargingStationMax profile is set on {place} 0 (the whole station)",
            rooted=False,
        )
    if p.purpose is ProfilePurpose.TX:
        check(evse_id > 0, "evse_id", f"a Tx profile is set on the {place} of its transaction, not on 0", rooted=False)


def _check_schedule(check: _Check, p: ChargingProfile, version: str | None) -> None:
    s = p.schedule
    if p.kind is ProfileKind.RELATIVE:
        check(s.start is None, "schedule.start", "a Relative schedule starts with its transaction: no start")
    else:
        check(s.start is not None, "schedule.start", f"an {p.kind} schedule needs its start")
    if s.duration_s is not None:
        check(s.duration_s > 0, "schedule.duration_s", "must be more than 0 s")
    if s.min_charging_rate is not None:
        check(s.min_charging_rate >= 0, "schedule.min_charging_rate", "must be 0 or more")
        if is_16(version):
            check(_one_decimal(s.min_charging_rate), "schedule.min_charging_rate", "1.6 allows one decimal")
    check(len(s.periods) > 0, "schedule.periods", "needs at least one period")
    _check_periods(check, p, version)


def _check_periods(check: _Check, p: ChargingProfile, version: str | None) -> None:
    s = p.schedule
    cycle = CYCLE.get(p.recurrency) if p.kind is ProfileKind.RECURRING and p.recurrency else None
    previous: int | None = None
    for n, period in enumerate(s.periods):
        at = f"schedule.periods[{n}]"
        if previous is None:
            check(period.start_s == 0, f"{at}.start_s", "the first period starts at 0")
        else:
            check(period.start_s > previous, f"{at}.start_s", f"must be after the previous period's ({previous} s)")
        previous = period.start_s
        if s.duration_s is not None:
            check(period.start_s < s.duration_s, f"{at}.start_s", f"beyond the duration ({s.duration_s} s)")
        if cycle is not None:
            check(period.start_s < cycle.total_seconds(), f"{at}.start_s", f"beyond one {p.recurrency} cycle")
        check(period.limit >= 0, f"{at}.limit", "must be 0 or more")
        if is_16(version):
            check(_one_decimal(period.limit), f"{at}.limit", "1.6 allows one decimal")
        if period.phases is not None:
            check(period.phases in (1, 2, 3), f"{at}.phases", "1, 2 or 3")
        if period.phase_to_use is not None:
            check(not is_16(version), f"{at}.phase_to_use", "OCPP 1.6 cannot choose the phase")
            check(period.phase_to_use in (1, 2, 3), f"{at}.phase_to_use", "1, 2 or 3")
            check(period.phases == 1, f"{at}.phase_to_use", "only with phases 1")


def _check_station(check: _Check, p: ChargingProfile, limits: StationLimits, others_installed: int | None) -> None:
    said = f"(the station's {limits.source})"
    if limits.max_periods is not None:
        check(
            len(p.schedule.periods) <= limits.max_periods,
            "schedule.periods",
            f"{len(p.schedule.periods)} periods; the station takes at most {limits.max_periods} {said}",
        )
    if limits.rate_units is not None:
        units = ", ".join(sorted(limits.rate_units))
        check(p.schedule.unit in limits.rate_units, "schedule.unit", f"the station takes {units} only {said}")
    if limits.max_stack_level is not None:
        check(
            p.stack_level <= limits.max_stack_level,
            "stack_level",
            f"the station's highest stack level is {limits.max_stack_level} {said}",
        )
    if limits.phase_switching is False:
        for n, period in enumerate(p.schedule.periods):
            check(
                period.phase_to_use is None,
                f"schedule.periods[{n}].phase_to_use",
                f"the station cannot switch phases {said}",
            )
    if limits.max_profiles is not None and others_installed is not None:
        check(
            others_installed < limits.max_profiles,
            "id",
            f"the station holds {others_installed} profiles already, its most {said}; clear one first",
        )


def _one_decimal(value: float) -> bool:
    return abs(value * 10 - round(value * 10)) < 1e-6
