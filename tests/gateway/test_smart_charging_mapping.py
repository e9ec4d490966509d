"""Charging profile commands as each version's CALLs (checked against the official schemas), the composite
schedule read back, and what 2.0.1 stations report as core types; pure functions, no socket."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from evscada.core.control import commands as c
from evscada.core.energy.profiles import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)
from evscada.core.errors import CommandNotSupported
from evscada.core.model import IdToken
from evscada.gateway import validation
from evscada.gateway.ocpp16 import commands as commands16
from evscada.gateway.ocpp201 import commands as commands201
from evscada.gateway.ocpp201 import smart_charging as sc201

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
VERSIONS = {"1.6": (commands16, validation.OCPP16), "2.0.1": (commands201, validation.OCPP201)}


def everything(purpose: ProfilePurpose = ProfilePurpose.TX_DEFAULT, **fields: Any) -> ChargingProfile:
    """A profile using every field both versions have."""
    schedule = ChargingSchedule(
        unit=RateUnit.AMPERES,
        periods=(SchedulePeriod(0, 16.0, 3), SchedulePeriod(3600, 8.5)),
        start=AT,
        duration_s=7200,
        min_charging_rate=6.0,
    )
    values: dict[str, Any] = {
        "id": 12,
        "stack_level": 2,
        "purpose": purpose,
        "kind": ProfileKind.RECURRING,
        "schedule": schedule,
        "recurrency": Recurrency.DAILY,
        "valid_from": AT,
        "valid_to": datetime(2027, 1, 1, tzinfo=UTC),
    }
    return ChargingProfile(**(values | fields))


def call(version: str, command: c.Command) -> tuple[str, dict[str, Any]]:
    module, schemas = VERSIONS[version]
    action, payload = module.BUILDERS[type(command)](command)
    schemas.check_request(action, payload)
    return action, payload


def test_a_1_6_profile_reads_as_1_6_says_it() -> None:
    action, payload = call("1.6", c.SetChargingProfile(evse_id=0, profile=everything()))
    assert (action, payload) == (
        "SetChargingProfile",
        {
            "connectorId": 0,
            "csChargingProfiles": {
                "chargingProfileId": 12,
                "stackLevel": 2,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Recurring",
                "recurrencyKind": "Daily",
                "validFrom": "2026-12-07T10:00:00.000Z",
                "validTo": "2027-01-01T00:00:00.000Z",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                        {"startPeriod": 3600, "limit": 8.5},
                    ],
                    "startSchedule": "2026-12-07T10:00:00.000Z",
                    "duration": 7200,
                    "minChargingRate": 6.0,
                },
            },
        },
    )
    tx = everything(ProfilePurpose.TX, transaction_id="42")
    assert call("1.6", c.SetChargingProfile(evse_id=1, profile=tx))[1]["csChargingProfiles"]["transactionId"] == 42
    maximum = call("1.6", c.SetChargingProfile(evse_id=0, profile=everything(ProfilePurpose.STATION_MAX)))[1]
    assert maximum["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"


def test_a_2_0_1_profile_has_a_list_of_schedules_and_a_string_transaction() -> None:
    tx = everything(ProfilePurpose.TX, transaction_id="TX-A")
    action, payload = call("2.0.1", c.SetChargingProfile(evse_id=1, profile=tx))
    profile = payload["chargingProfile"]
    assert (action, payload["evseId"], profile["chargingProfilePurpose"], profile["transactionId"]) == (
        "SetChargingProfile",
        1,
        "TxProfile",
        "TX-A",
    )
    assert profile["chargingSchedule"][0]["id"] == 12
    assert profile["chargingSchedule"][0]["chargingSchedulePeriod"][0] == {
        "startPeriod": 0,
        "limit": 16.0,
        "numberPhases": 3,
    }
    one_phase = everything(schedule=ChargingSchedule(RateUnit.WATTS, (SchedulePeriod(0, 3680, 1, 2),), start=AT))
    period = call("2.0.1", c.SetChargingProfile(evse_id=1, profile=one_phase))[1]["chargingProfile"][
        "chargingSchedule"
    ][0]
    assert period["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 3680, "numberPhases": 1, "phaseToUse": 2}]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_every_smart_charging_call_meets_its_schema(version: str) -> None:
    tx = everything(ProfilePurpose.TX)
    for command in [
        c.ClearChargingProfile(),
        c.ClearChargingProfile(profile_id=3),
        c.ClearChargingProfile(evse_id=1, purpose=ProfilePurpose.TX_DEFAULT, stack_level=0),
        c.GetCompositeSchedule(evse_id=0, duration_s=3600),
        c.GetCompositeSchedule(evse_id=1, duration_s=60, unit=RateUnit.WATTS),
        c.RemoteStart(id_token=IdToken("CARD-1", "ISO14443"), evse_id=1, remote_start_id=5, charging_profile=tx),
    ]:
        call(version, command)


def test_clearing_reads_as_each_version_says_it() -> None:
    criteria = c.ClearChargingProfile(evse_id=1, purpose=ProfilePurpose.STATION_MAX, stack_level=0)
    assert call("1.6", criteria)[1] == {
        "connectorId": 1,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "stackLevel": 0,
    }
    assert call("2.0.1", criteria)[1] == {
        "chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "ChargingStationMaxProfile", "stackLevel": 0}
    }
    assert call("1.6", c.ClearChargingProfile(profile_id=4))[1] == {"id": 4}
    assert call("2.0.1", c.ClearChargingProfile(profile_id=4))[1] == {"chargingProfileId": 4}


def test_get_charging_profiles_is_2_0_1_s_and_numbered_by_the_command_log() -> None:
    command = c.GetChargingProfiles(
        evse_id=0, purpose=ProfilePurpose.EXTERNAL_CONSTRAINTS, profile_ids=(1, 2), sources=("EMS",)
    )
    numbered = command.numbered(77)
    assert call("2.0.1", numbered) == (
        "GetChargingProfiles",
        {
            "requestId": 77,
            "evseId": 0,
            "chargingProfile": {
                "chargingProfilePurpose": "ChargingStationExternalConstraints",
                "chargingProfileId": [1, 2],
                "chargingLimitSource": ["EMS"],
            },
        },
    )
    assert c.GetChargingProfiles not in commands16.BUILDERS  # 1.6 has no such message: not supported


def test_1_6_cannot_say_external_constraints() -> None:
    with pytest.raises(CommandNotSupported, match="purpose"):
        call("1.6", c.ClearChargingProfile(purpose=ProfilePurpose.EXTERNAL_CONSTRAINTS))


def test_a_composite_schedule_reads_back_alike_in_both_versions() -> None:
    periods = [{"startPeriod": 0, "limit": 11000.0, "numberPhases": 3}, {"startPeriod": 900, "limit": 0.0}]
    answer16 = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2026-12-07T10:00:00Z",
        "chargingSchedule": {"duration": 1800, "chargingRateUnit": "W", "chargingSchedulePeriod": periods},
    }
    answer201 = {
        "status": "Accepted",
        "schedule": {
            "evseId": 1,
            "duration": 1800,
            "scheduleStart": "2026-12-07T10:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": periods,
        },
    }
    validation.OCPP16.check_response("GetCompositeSchedule", answer16)
    validation.OCPP201.check_response("GetCompositeSchedule", answer201)
    command = c.GetCompositeSchedule(evse_id=1, duration_s=1800)
    read16 = commands16.to_reply(command, answer16)
    read201 = commands201.to_reply(command, answer201)
    assert (
        read16.data["schedule"]
        == read201.data["schedule"]
        == {
            "evse_id": 1,
            "start": "2026-12-07T10:00:00+00:00",
            "duration_s": 1800,
            "unit": "W",
            "periods": [
                {"start_s": 0, "limit": 11000.0, "phases": 3, "phase_to_use": None},
                {"start_s": 900, "limit": 0.0, "phases": None, "phase_to_use": None},
            ],
        }
    )
    assert commands16.to_reply(command, {"status": "Rejected"}).data == {"schedule": None}
    assert commands201.to_reply(command, {"status": "Rejected"}).status == "Rejected"


def test_what_a_2_0_1_station_reports_becomes_core_types() -> None:
    schedule = {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}]}
    (reported,) = sc201.reported_profiles(
        {
            "requestId": 5,
            "chargingLimitSource": "EMS",
            "evseId": 0,
            "chargingProfile": [
                {
                    "id": 9,
                    "stackLevel": 1,
                    "chargingProfilePurpose": "ChargingStationExternalConstraints",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": [schedule, {**schedule, "id": 2}],
                }
            ],
        },
        AT,
    )
    assert (reported.request_id, reported.source, reported.profile.purpose, reported.profile.kind) == (
        5,
        "EMS",
        ProfilePurpose.EXTERNAL_CONSTRAINTS,
        ProfileKind.RELATIVE,
    )
    assert reported.profile.schedule.periods == (SchedulePeriod(0, 10.0),)

    limit = sc201.charging_limit({"chargingLimit": {"chargingLimitSource": "SO", "isGridCritical": True}})
    assert (limit.source, limit.evse_id, limit.grid_critical, limit.schedules) == ("SO", None, True, ())

    ac = sc201.ev_charging_needs(
        {
            "evseId": 2,
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_three_phase",
                "departureTime": "2026-12-07T16:00:00Z",
                "acChargingParameters": {
                    "energyAmount": 30000,
                    "evMinCurrent": 6,
                    "evMaxCurrent": 16,
                    "evMaxVoltage": 400,
                },
            },
        }
    )
    assert (ac.energy_amount_wh, ac.ev_min_current_a, ac.ev_max_current_a, ac.ev_max_power_w, ac.departure_time) == (
        30000,
        6,
        16,
        None,
        datetime(2026, 12, 7, 16, 0, tzinfo=UTC),
    )
