"""Charging profiles and schedules as the JSON columns keep them: the core's field names, times in ISO 8601."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from evscada.core.energy.profiles import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parsed(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def schedule_json(s: ChargingSchedule) -> dict[str, Any]:
    return {
        "unit": str(s.unit),
        "start": _time(s.start),
        "duration_s": s.duration_s,
        "min_charging_rate": s.min_charging_rate,
        "periods": [
            {"start_s": p.start_s, "limit": p.limit, "phases": p.phases, "phase_to_use": p.phase_to_use}
            for p in s.periods
        ],
    }


def schedule_of(data: dict[str, Any]) -> ChargingSchedule:
    return ChargingSchedule(
        unit=RateUnit(data["unit"]),
        start=_parsed(data.get("start")),
        duration_s=data.get("duration_s"),
        min_charging_rate=data.get("min_charging_rate"),
        periods=tuple(
            SchedulePeriod(
                start_s=p["start_s"], limit=p["limit"], phases=p.get("phases"), phase_to_use=p.get("phase_to_use")
            )
            for p in data["periods"]
        ),
    )


def profile_json(p: ChargingProfile) -> dict[str, Any]:
    return {
        "id": p.id,
        "stack_level": p.stack_level,
        "purpose": str(p.purpose),
        "kind": str(p.kind),
        "recurrency": str(p.recurrency) if p.recurrency else None,
        "valid_from": _time(p.valid_from),
        "valid_to": _time(p.valid_to),
        "transaction_id": p.transaction_id,
        "schedule": schedule_json(p.schedule),
    }


def profile_of(data: dict[str, Any]) -> ChargingProfile:
    recurrency = data.get("recurrency")
    return ChargingProfile(
        id=data["id"],
        stack_level=data["stack_level"],
        purpose=ProfilePurpose(data["purpose"]),
        kind=ProfileKind(data["kind"]),
        recurrency=Recurrency(recurrency) if recurrency else None,
        valid_from=_parsed(data.get("valid_from")),
        valid_to=_parsed(data.get("valid_to")),
        transaction_id=data.get("transaction_id"),
        schedule=schedule_of(data["schedule"]),
    )
