"""OCPP 2.0.1 smart charging (block K): core charging profile commands as CALLs, the answers back, and what
stations report about profiles, limits and vehicles' needs as core types; pure functions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from evscada.core.control import commands as c
from evscada.core.energy.profiles import ChargingProfile, ProfileKind, ProfilePurpose, Recurrency
from evscada.core.energy.reports import ChargingLimit, EvChargingNeeds, ReportedProfile
from evscada.gateway.adapter import Payload
from evscada.gateway.rpc import format_datetime, parse_datetime
from evscada.gateway.shared_smart_charging import composite, schedule_of, schedule_payload

PURPOSES = {
    ProfilePurpose.STATION_MAX: "ChargingStationMaxProfile",
    ProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ProfilePurpose.TX: "TxProfile",
    ProfilePurpose.EXTERNAL_CONSTRAINTS: "ChargingStationExternalConstraints",  # only ever read: the core checks
}
PURPOSE_OF = {word: purpose for purpose, word in PURPOSES.items()}
KINDS = frozenset(str(kind) for kind in ProfileKind)


def profile_payload(p: ChargingProfile) -> Payload:
    """ChargingProfileType (SetChargingProfile, RequestStartTransaction); its one schedule has the profile's id."""
    payload: Payload = {
        "id": p.id,
        "stackLevel": p.stack_level,
        "chargingProfilePurpose": PURPOSES[p.purpose],
        "chargingProfileKind": str(p.kind),
        "chargingSchedule": [{"id": p.id, **schedule_payload(p.schedule)}],
    }
    if p.transaction_id is not None:
        payload["transactionId"] = p.transaction_id
    if p.recurrency is not None:
        payload["recurrencyKind"] = str(p.recurrency)
    if p.valid_from is not None:
        payload["validFrom"] = format_datetime(p.valid_from)
    if p.valid_to is not None:
        payload["validTo"] = format_datetime(p.valid_to)
    return payload


def set_profile(cmd: c.SetChargingProfile) -> tuple[str, Payload]:
    return "SetChargingProfile", {"evseId": cmd.evse_id, "chargingProfile": profile_payload(cmd.profile)}


def clear_profile(cmd: c.ClearChargingProfile) -> tuple[str, Payload]:
    payload: Payload = {}
    if cmd.profile_id is not None:
        payload["chargingProfileId"] = cmd.profile_id
    criteria: Payload = {}
    if cmd.evse_id is not None:
        criteria["evseId"] = cmd.evse_id
    if cmd.purpose is not None:
        criteria["chargingProfilePurpose"] = PURPOSES[cmd.purpose]
    if cmd.stack_level is not None:
        criteria["stackLevel"] = cmd.stack_level
    if criteria:
        payload["chargingProfileCriteria"] = criteria
    return "ClearChargingProfile", payload


def composite_request(cmd: c.GetCompositeSchedule) -> tuple[str, Payload]:
    payload: Payload = {"evseId": cmd.evse_id, "duration": cmd.duration_s}
    if cmd.unit is not None:
        payload["chargingRateUnit"] = str(cmd.unit)
    return "GetCompositeSchedule", payload


def composite_reply(payload: Payload) -> c.CommandReply:
    schedule = payload.get("schedule")
    data = {"schedule": None, "statusInfo": payload.get("statusInfo")}
    if payload["status"] == "Accepted" and schedule is not None:
        data["schedule"] = composite(schedule["evseId"], schedule["scheduleStart"], schedule)
    return c.CommandReply(status=payload["status"], data=data)


def get_profiles(cmd: c.GetChargingProfiles) -> tuple[str, Payload]:
    criterion: Payload = {}
    if cmd.purpose is not None:
        criterion["chargingProfilePurpose"] = PURPOSES[cmd.purpose]
    if cmd.stack_level is not None:
        criterion["stackLevel"] = cmd.stack_level
    if cmd.profile_ids:
        criterion["chargingProfileId"] = list(cmd.profile_ids)
    if cmd.sources:
        criterion["chargingLimitSource"] = list(cmd.sources)
    payload: Payload = {"requestId": cmd.request_id or 0, "chargingProfile": criterion}
    if cmd.evse_id is not None:
        payload["evseId"] = cmd.evse_id
    return "GetChargingProfiles", payload


BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    c.SetChargingProfile: set_profile,
    c.ClearChargingProfile: clear_profile,
    c.GetCompositeSchedule: composite_request,
    c.GetChargingProfiles: get_profiles,
}


def _time(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def profile_of(p: Payload) -> ChargingProfile:
    """A profile a station reports; of its schedules (a second and third are for ISO 15118), the first."""
    recurrency = p.get("recurrencyKind")
    return ChargingProfile(
        id=p["id"],
        stack_level=p["stackLevel"],
        purpose=PURPOSE_OF[p["chargingProfilePurpose"]],
        kind=ProfileKind(p["chargingProfileKind"]),
        schedule=schedule_of(p["chargingSchedule"][0]),
        recurrency=Recurrency(recurrency) if recurrency else None,
        valid_from=_time(p.get("validFrom")),
        valid_to=_time(p.get("validTo")),
        transaction_id=p.get("transactionId"),
    )


def _readable_schedule(s: Payload) -> bool:
    # 2.1 periods may carry a setpoint (V2X) instead of a limit: the core has no word for those.
    return all("limit" in period for period in s["chargingSchedulePeriod"])


def _readable(profile: Payload) -> bool:
    """2.0.1 profiles are; a 2.1 station's may have a kind or purpose 2.0.1 does not know (Dynamic,
    PriorityCharging, LocalGeneration ...). Those are kept only in the station message."""
    return (
        profile["chargingProfilePurpose"] in PURPOSE_OF
        and profile["chargingProfileKind"] in KINDS
        and _readable_schedule(profile["chargingSchedule"][0])
    )


def reported_profiles(p: Payload, received: datetime) -> list[ReportedProfile]:
    """ReportChargingProfiles: the profiles the core can read."""
    return [
        ReportedProfile(
            request_id=p["requestId"],
            evse_id=p["evseId"],
            source=p["chargingLimitSource"],
            profile=profile_of(item),
            reported_at=received,
        )
        for item in p["chargingProfile"]
        if _readable(item)
    ]


def charging_limit(p: Payload) -> ChargingLimit:
    """NotifyChargingLimit (its schedules that the core can read)."""
    limit = p["chargingLimit"]
    return ChargingLimit(
        source=limit["chargingLimitSource"],
        evse_id=p.get("evseId"),
        grid_critical=limit.get("isGridCritical"),
        schedules=tuple(schedule_of(s) for s in p.get("chargingSchedule", []) if _readable_schedule(s)),
    )


def ev_charging_needs(p: Payload) -> EvChargingNeeds:
    """NotifyEVChargingNeeds: AC or DC parameters, in Wh, A, V, W and %."""
    needs = p["chargingNeeds"]
    ac = needs.get("acChargingParameters") or {}
    dc = needs.get("dcChargingParameters") or {}
    either = ac or dc
    return EvChargingNeeds(
        evse_id=p["evseId"],
        transfer_mode=needs["requestedEnergyTransfer"],
        departure_time=_time(needs.get("departureTime")),
        energy_amount_wh=either.get("energyAmount"),
        ev_min_current_a=ac.get("evMinCurrent"),
        ev_max_current_a=either.get("evMaxCurrent"),
        ev_max_voltage_v=either.get("evMaxVoltage"),
        ev_max_power_w=dc.get("evMaxPower"),
        state_of_charge=dc.get("stateOfCharge"),
        ev_energy_capacity_wh=dc.get("evEnergyCapacity"),
        full_soc=dc.get("fullSoC"),
        bulk_soc=dc.get("bulkSoC"),
        max_schedule_tuples=p.get("maxScheduleTuples"),
    )
