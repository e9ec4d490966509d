"""How a simulated 1.6 station takes charging profiles: map the Smart Charging messages in, ask the station's
charging limits, map out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from evscada.simulator.charging_limits import Profile, Purpose, from_ocpp
from evscada.simulator.links.answering import Answering, accepted
from evscada.simulator.model import now_iso

PURPOSES = {
    "ChargePointMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}


def profile16(connector: int, data: dict[str, Any], received: datetime) -> Profile:
    """A 1.6 csChargingProfiles (snake_case, as the handlers get it) as the station keeps it."""
    transaction = data.get("transaction_id")
    return from_ocpp(
        data,
        data["charging_schedule"],
        profile_id=int(data["charging_profile_id"]),
        connector=connector,
        purpose=PURPOSES[data["charging_profile_purpose"]],
        transaction=str(transaction) if transaction is not None else None,
        received=received,
    )


class SmartCharging16(Answering):
    """SetChargingProfile, ClearChargingProfile and GetCompositeSchedule; mixed into Commands16."""

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any) -> Any:
        profile = profile16(connector_id, cs_charging_profiles, datetime.now(UTC))
        return call_result.SetChargingProfile(status=accepted(self.station.install_profile(profile)))

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> Any:
        cleared = self.station.charging_limits.clear(
            profile_id=id,
            connector=connector_id,
            purpose=PURPOSES[charging_profile_purpose] if charging_profile_purpose else None,
            stack_level=stack_level,
        )
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        unit = charging_rate_unit or "W"
        periods = self.station.composite_schedule(connector_id, duration, unit)
        if periods is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        start = now_iso()
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=start,
            charging_schedule={
                "duration": duration,
                "start_schedule": start,
                "charging_rate_unit": unit,
                "charging_schedule_period": periods,
            },
        )
