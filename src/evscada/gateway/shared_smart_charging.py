"""Charging schedules as every OCPP version writes them (1.6 and 2.0.1 differ in the profile around them, and 2.0.1
adds phaseToUse); pure functions."""

from __future__ import annotations

from typing import Any

from evscada.core.energy.profiles import ChargingSchedule, RateUnit, SchedulePeriod
from evscada.gateway.adapter import Payload
from evscada.gateway.rpc import format_datetime, parse_datetime


def schedule_payload(s: ChargingSchedule) -> Payload:
    """A schedule's fields as both versions name them (2.0.1 adds the schedule's id)."""
    payload: Payload = {
        "chargingRateUnit": str(s.unit),
        "chargingSchedulePeriod": [period_payload(p) for p in s.periods],
    }
    if s.start is not None:
        payload["startSchedule"] = format_datetime(s.start)
    if s.duration_s is not None:
        payload["duration"] = s.duration_s
    if s.min_charging_rate is not None:
        payload["minChargingRate"] = s.min_charging_rate
    return payload


def period_payload(p: SchedulePeriod) -> Payload:
    payload: Payload = {"startPeriod": p.start_s, "limit": p.limit}
    if p.phases is not None:
        payload["numberPhases"] = p.phases
    if p.phase_to_use is not None:  # 2.0.1 only: the core refuses it for 1.6
        payload["phaseToUse"] = p.phase_to_use
    return payload


def schedule_of(p: Payload) -> ChargingSchedule:
    """A schedule a station reports (a profile, a charging limit)."""
    start = p.get("startSchedule")
    return ChargingSchedule(
        unit=RateUnit(p["chargingRateUnit"]),
        periods=tuple(
            SchedulePeriod(
                start_s=item["startPeriod"],
                limit=float(item["limit"]),
                phases=item.get("numberPhases"),
                phase_to_use=item.get("phaseToUse"),
            )
            for item in p["chargingSchedulePeriod"]
        ),
        start=parse_datetime(start) if start else None,
        duration_s=p.get("duration"),
        min_charging_rate=p.get("minChargingRate"),
    )


def composite(evse_id: int, start: str | None, schedule: Payload) -> dict[str, Any]:
    """A composite schedule, version-neutral and JSON (it is kept in the command log): core.energy reads it."""
    return {
        "evse_id": evse_id,
        "start": parse_datetime(start).isoformat() if start else None,
        "duration_s": schedule.get("duration"),
        "unit": schedule["chargingRateUnit"],
        "periods": [
            {
                "start_s": item["startPeriod"],
                "limit": item["limit"],
                "phases": item.get("numberPhases"),
                "phase_to_use": item.get("phaseToUse"),
            }
            for item in schedule["chargingSchedulePeriod"]
        ],
    }
