"""OCPP 1.6 Smart Charging: core charging profile commands as CALLs, and the composite schedule back; pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evscada.core.control import commands as c
from evscada.core.energy.profiles import ChargingProfile, ProfilePurpose
from evscada.core.errors import CommandNotSupported
from evscada.gateway.adapter import Payload
from evscada.gateway.rpc import format_datetime
from evscada.gateway.shared_smart_charging import composite, schedule_payload

PURPOSES = {
    ProfilePurpose.STATION_MAX: "ChargePointMaxProfile",
    ProfilePurpose.TX_DEFAULT: "TxDefaultProfile",
    ProfilePurpose.TX: "TxProfile",
}


def _purpose(purpose: ProfilePurpose) -> str:
    if purpose not in PURPOSES:
        raise CommandNotSupported(f"purpose: OCPP 1.6 has no {purpose} profiles")
    return PURPOSES[purpose]


def profile_payload(p: ChargingProfile) -> Payload:
    """csChargingProfiles (SetChargingProfile) and chargingProfile (RemoteStartTransaction)."""
    payload: Payload = {
        "chargingProfileId": p.id,
        "stackLevel": p.stack_level,
        "chargingProfilePurpose": _purpose(p.purpose),
        "chargingProfileKind": str(p.kind),
        "chargingSchedule": schedule_payload(p.schedule),
    }
    if p.transaction_id is not None:
        if not p.transaction_id.isdigit():
            raise CommandNotSupported(f"transaction_id: {p.transaction_id!r} is not a 1.6 transaction id (an integer)")
        payload["transactionId"] = int(p.transaction_id)
    if p.recurrency is not None:
        payload["recurrencyKind"] = str(p.recurrency)
    if p.valid_from is not None:
        payload["validFrom"] = format_datetime(p.valid_from)
    if p.valid_to is not None:
        payload["validTo"] = format_datetime(p.valid_to)
    return payload


def set_profile(cmd: c.SetChargingProfile) -> tuple[str, Payload]:
    return "SetChargingProfile", {"connectorId": cmd.evse_id, "csChargingProfiles": profile_payload(cmd.profile)}


def clear_profile(cmd: c.ClearChargingProfile) -> tuple[str, Payload]:
    payload: Payload = {}
    if cmd.profile_id is not None:
        payload["id"] = cmd.profile_id
    if cmd.evse_id is not None:
        payload["connectorId"] = cmd.evse_id
    if cmd.purpose is not None:
        payload["chargingProfilePurpose"] = _purpose(cmd.purpose)
    if cmd.stack_level is not None:
        payload["stackLevel"] = cmd.stack_level
    return "ClearChargingProfile", payload


def composite_request(cmd: c.GetCompositeSchedule) -> tuple[str, Payload]:
    payload: Payload = {"connectorId": cmd.evse_id, "duration": cmd.duration_s}
    if cmd.unit is not None:
        payload["chargingRateUnit"] = str(cmd.unit)
    return "GetCompositeSchedule", payload


def composite_reply(cmd: c.GetCompositeSchedule, payload: Payload) -> c.CommandReply:
    schedule = payload.get("chargingSchedule")
    if payload["status"] != "Accepted" or schedule is None:
        return c.CommandReply(status=payload["status"], data={"schedule": None})
    start = payload.get("scheduleStart") or schedule.get("startSchedule")
    return c.CommandReply(
        status="Accepted", data={"schedule": composite(payload.get("connectorId", cmd.evse_id), start, schedule)}
    )


BUILDERS: dict[type[c.Command], Callable[[Any], tuple[str, Payload]]] = {
    c.SetChargingProfile: set_profile,
    c.ClearChargingProfile: clear_profile,
    c.GetCompositeSchedule: composite_request,
}
