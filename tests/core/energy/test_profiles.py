"""Charging profiles are checked against their version's rules and the station's own limits, each broken rule
named by the field that breaks it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from evscada.core.energy.profiles import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    StationLimits,
    limits_from_keys,
    limits_from_variables,
    validate,
)
from evscada.core.errors import InvalidArgument
from evscada.core.stations.device_model import DeviceVariable

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


def periods(*items: tuple[int, float]) -> tuple[SchedulePeriod, ...]:
    return tuple(SchedulePeriod(start, limit) for start, limit in items)


def tx_default(**fields: object) -> ChargingProfile:
    schedule = ChargingSchedule(RateUnit.AMPERES, periods((0, 16), (600, 8)), start=NOW)
    profile = ChargingProfile(1, 0, ProfilePurpose.TX_DEFAULT, ProfileKind.ABSOLUTE, schedule)
    return replace(profile, **fields)  # type: ignore[arg-type]


def field_of(profile: ChargingProfile, *, evse_id: int | None = 1, version: str = "2.0.1", **options: object) -> str:
    with pytest.raises(InvalidArgument) as broken:
        validate(profile, evse_id=evse_id, version=version, now=NOW, **options)  # type: ignore[arg-type]
    assert broken.value.field is not None
    assert broken.value.message.startswith(broken.value.field + ": ")
    return broken.value.field


@VERSIONS
def test_a_sound_profile_passes(version: str) -> None:
    validate(tx_default(), evse_id=1, version=version, now=NOW)
    validate(tx_default(), evse_id=0, version=version, now=NOW)


@VERSIONS
@pytest.mark.parametrize(
    ("change", "evse_id", "field"),
    [
        ({"stack_level": -1}, 1, "stack_level"),
        ({"id": 0}, 1, "id"),
        ({"purpose": ProfilePurpose.EXTERNAL_CONSTRAINTS}, 1, "purpose"),
        ({"purpose": ProfilePurpose.TX}, 1, "transaction_id"),  # Tx names its transaction
        ({"purpose": ProfilePurpose.TX, "transaction_id": "12"}, 0, "evse_id"),  # ... on its EVSE, not 0
        ({"transaction_id": "12"}, 1, "transaction_id"),  # only Tx does
        ({"purpose": ProfilePurpose.STATION_MAX}, 1, "evse_id"),  # the whole station: 0
        ({"kind": ProfileKind.RECURRING}, 1, "recurrency"),
        ({"recurrency": Recurrency.DAILY}, 1, "recurrency"),
        ({"valid_from": NOW, "valid_to": NOW}, 1, "valid_to"),
        ({"valid_to": NOW - timedelta(seconds=1)}, 1, "valid_to"),
    ],
)
def test_profile_rules(version: str, change: dict[str, object], evse_id: int, field: str) -> None:
    assert field_of(tx_default(**change), evse_id=evse_id, version=version) == field


@VERSIONS
@pytest.mark.parametrize(
    ("schedule", "kind", "field"),
    [
        (ChargingSchedule(RateUnit.WATTS, periods((0, 10)), start=NOW), ProfileKind.RELATIVE, "schedule.start"),
        (ChargingSchedule(RateUnit.WATTS, periods((0, 10))), ProfileKind.RECURRING, "schedule.start"),
        (ChargingSchedule(RateUnit.WATTS, (), start=NOW), ProfileKind.ABSOLUTE, "schedule.periods"),
        (
            ChargingSchedule(RateUnit.WATTS, periods((1, 10)), start=NOW),
            ProfileKind.ABSOLUTE,
            "schedule.periods[0].start_s",
        ),
        (
            ChargingSchedule(RateUnit.WATTS, periods((0, 10), (60, 5), (60, 3)), start=NOW),
            ProfileKind.ABSOLUTE,
            "schedule.periods[2].start_s",
        ),
        (
            ChargingSchedule(RateUnit.WATTS, periods((0, 10), (60, 5)), start=NOW, duration_s=60),
            ProfileKind.ABSOLUTE,
            "schedule.periods[1].start_s",
        ),
        (
            ChargingSchedule(RateUnit.WATTS, periods((0, -1)), start=NOW),
            ProfileKind.ABSOLUTE,
            "schedule.periods[0].limit",
        ),
        (
            ChargingSchedule(RateUnit.WATTS, periods((0, 1)), start=NOW, duration_s=0),
            ProfileKind.ABSOLUTE,
            "schedule.duration_s",
        ),
        (
            ChargingSchedule(RateUnit.WATTS, periods((0, 1)), start=NOW, min_charging_rate=-2),
            ProfileKind.ABSOLUTE,
            "schedule.min_charging_rate",
        ),
        (
            ChargingSchedule(RateUnit.AMPERES, (SchedulePeriod(0, 16, phases=4),), start=NOW),
            ProfileKind.ABSOLUTE,
            "schedule.periods[0].phases",
        ),
    ],
)
def test_schedule_rules(version: str, schedule: ChargingSchedule, kind: ProfileKind, field: str) -> None:
    profile = tx_default(kind=kind, schedule=schedule)
    if kind is ProfileKind.RECURRING:
        profile = replace(profile, recurrency=Recurrency.DAILY)
    assert field_of(profile, version=version) == field


def test_a_daily_schedule_fits_in_a_day() -> None:
    schedule = ChargingSchedule(RateUnit.AMPERES, periods((0, 16), (86_400, 8)), start=NOW)
    profile = tx_default(kind=ProfileKind.RECURRING, recurrency=Recurrency.DAILY, schedule=schedule)
    assert field_of(profile) == "schedule.periods[1].start_s"
    weekly = replace(profile, recurrency=Recurrency.WEEKLY)
    validate(weekly, evse_id=1, version="2.0.1", now=NOW)


def test_1_6_has_its_own_rules() -> None:
    one_decimal = tx_default(schedule=ChargingSchedule(RateUnit.AMPERES, periods((0, 16.05)), start=NOW))
    assert field_of(one_decimal, version="1.6") == "schedule.periods[0].limit"
    validate(one_decimal, evse_id=1, version="2.0.1", now=NOW)
    validate(
        replace(one_decimal, schedule=replace(one_decimal.schedule, periods=periods((0, 16.1)))),
        evse_id=1,
        version="1.6",
        now=NOW,
    )
    phase = (SchedulePeriod(0, 16, phases=1, phase_to_use=2),)
    chosen = tx_default(schedule=ChargingSchedule(RateUnit.AMPERES, phase, start=NOW))
    assert field_of(chosen, version="1.6") == "schedule.periods[0].phase_to_use"
    validate(chosen, evse_id=1, version="2.0.1", now=NOW)
    tx = tx_default(purpose=ProfilePurpose.TX, transaction_id="TX-A")
    assert field_of(tx, version="1.6") == "transaction_id"  # a 1.6 transaction id is an integer


def test_phase_to_use_needs_one_phase_and_a_station_that_switches() -> None:
    three = tx_default(schedule=ChargingSchedule(RateUnit.AMPERES, (SchedulePeriod(0, 16, 3, 1),), start=NOW))
    assert field_of(three) == "schedule.periods[0].phase_to_use"
    one = tx_default(schedule=ChargingSchedule(RateUnit.AMPERES, (SchedulePeriod(0, 16, 1, 1),), start=NOW))
    assert field_of(one, limits=StationLimits(phase_switching=False)) == "schedule.periods[0].phase_to_use"


def test_a_remote_start_carries_a_tx_profile_without_a_transaction_and_names_fields_under_its_own() -> None:
    tx = tx_default(purpose=ProfilePurpose.TX)
    validate(tx, evse_id=None, version="1.6", now=NOW, remote_start=True, root="charging_profile")
    assert field_of(tx_default(), remote_start=True, root="charging_profile") == "charging_profile.purpose"
    named = replace(tx, transaction_id="1")
    assert field_of(named, remote_start=True, root="charging_profile") == "charging_profile.transaction_id"
    assert field_of(tx, evse_id=0, remote_start=True, root="charging_profile") == "evse_id"  # the request's own


def test_the_station_s_limits_are_checked_where_known() -> None:
    limits = StationLimits(
        max_periods=1, rate_units=frozenset({RateUnit.WATTS}), max_stack_level=0, max_profiles=2, source="device model"
    )
    assert field_of(tx_default(), limits=limits) == "schedule.periods"
    one = tx_default(schedule=ChargingSchedule(RateUnit.AMPERES, periods((0, 16)), start=NOW))
    assert field_of(one, limits=limits) == "schedule.unit"
    watts = replace(one, schedule=replace(one.schedule, unit=RateUnit.WATTS))
    assert field_of(replace(watts, stack_level=1), limits=limits) == "stack_level"
    assert field_of(watts, limits=limits, others_installed=2) == "id"
    validate(watts, evse_id=1, version="2.0.1", now=NOW, limits=limits, others_installed=1)
    with pytest.raises(InvalidArgument, match=r"at most 1 \(the station's device model\)"):
        validate(tx_default(), evse_id=1, version="2.0.1", now=NOW, limits=limits)


def test_a_1_6_station_s_limits_come_from_its_configuration_keys() -> None:
    limits = limits_from_keys(
        {
            "ChargingScheduleMaxPeriods": "24",
            "ChargingScheduleAllowedChargingRateUnit": "Current, Power",
            "ChargeProfileMaxStackLevel": "8",
            "MaxChargingProfilesInstalled": "not a number",
        },
        "GetConfiguration answer",
    )
    assert (limits.max_periods, limits.rate_units, limits.max_stack_level, limits.max_profiles) == (
        24,
        frozenset({RateUnit.AMPERES, RateUnit.WATTS}),
        8,
        None,  # an odd value is no limit to check against
    )
    assert not limits_from_keys({}, "nothing").known


def test_a_2_0_1_station_s_limits_come_from_its_smart_charging_controller() -> None:
    def variable(name: str, value: str, **more: object) -> DeviceVariable:
        return DeviceVariable(component="SmartChargingCtrlr", variable=name, value=value, **more)  # type: ignore[arg-type]

    limits = limits_from_variables(
        [
            variable("PeriodsPerSchedule", "12"),
            variable("RateUnit", "A"),
            variable("ProfileStackLevel", "4"),
            variable("Entries", "3", max_limit=10.0),  # how many are installed; maxLimit: how many may be
            variable("ACPhaseSwitchingSupported", "false"),
            variable("PeriodsPerSchedule", "99", attribute_type="MaxSet"),
            DeviceVariable(component="OCPPCommCtrlr", variable="PeriodsPerSchedule", value="1"),
        ]
    )
    assert (limits.max_periods, limits.rate_units, limits.max_stack_level, limits.max_profiles) == (
        12,
        frozenset({RateUnit.AMPERES}),
        4,
        10,
    )
    assert limits.phase_switching is False
    assert limits_from_variables([variable("Entries", "16")]).max_profiles is None
