"""How a simulated 2.0.1 station takes charging profiles: map the Smart Charging messages in, ask the station's
charging limits, map out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from evscada.simulator.charging_limits import Profile, Purpose, from_ocpp
from evscada.simulator.links.answering import Answering, accepted
from evscada.simulator.model import now_iso

# ChargingStationExternalConstraints is the station's own to set: the CSMS may not.
PURPOSES = {
    "ChargingStationMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}


def profile201(evse_id: int, data: dict[str, Any], received: datetime) -> Profile | None:
    """A 2.0.1 ChargingProfileType (snake_case) as the station keeps it; None if it cannot take it."""
    purpose = PURPOSES.get(data["charging_profile_purpose"])
    if purpose is None:
        return None
    return from_ocpp(
        data,
        data["charging_schedule"][0],  # a second schedule is for ISO 15118 negotiation, which is not simulated
        profile_id=int(data["id"]),
        connector=evse_id,
        purpose=purpose,
        transaction=data.get("transaction_id"),
        received=received,
    )


def _matches(profile: Profile, evse_id: int | None, criterion: dict[str, Any]) -> bool:
    purpose = criterion.get("charging_profile_purpose")
    ids = criterion.get("charging_profile_id")
    sources = criterion.get("charging_limit_source")
    return (
        (evse_id is None or profile.connector == evse_id)
        and (purpose is None or PURPOSES.get(purpose) is profile.purpose)
        and (criterion.get("stack_level") is None or profile.stack_level == criterion["stack_level"])
        and (not ids or profile.profile_id in ids)
        and (not sources or "CSO" in sources)  # every profile here came from the CSMS
    )


class SmartCharging201(Answering):
    """SetChargingProfile, ClearChargingProfile, GetChargingProfiles and GetCompositeSchedule; mixed into
    Commands201."""

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        profile = profile201(evse_id, charging_profile, datetime.now(UTC))
        ok = profile is not None and self.station.install_profile(profile)
        return call_result.SetChargingProfile(status=accepted(ok))

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        criteria = charging_profile_criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        if purpose is not None and purpose not in PURPOSES:
            return call_result.ClearChargingProfile(status="Unknown")
        cleared = self.station.charging_limits.clear(
            profile_id=charging_profile_id,
            connector=criteria.get("evse_id"),
            purpose=PURPOSES[purpose] if purpose else None,
            stack_level=criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        unit = charging_rate_unit or "W"
        periods = self.station.composite_schedule(evse_id, duration, unit)
        if periods is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        schedule = {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": now_iso(),
            "charging_rate_unit": unit,
            "charging_schedule_period": periods,
        }
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(
        self, request_id: int, charging_profile: dict[str, Any], evse_id: int | None = None, **_: Any
    ) -> Any:
        station = self.station
        found = [p for p in station.charging_limits.profiles() if _matches(p, evse_id, charging_profile)]
        if not found:
            return call_result.GetChargingProfiles(status="NoProfiles")
        by_evse: dict[int, list[dict[str, Any]]] = {}
        for profile in found:
            by_evse.setdefault(profile.connector, []).append(profile.source)

        def send_reports() -> None:
            station.spawn(self._report_profiles(request_id, by_evse), f"profiles-{request_id}")

        self._then(send_reports)
        return call_result.GetChargingProfiles(status="Accepted")

    async def _report_profiles(self, request_id: int, by_evse: dict[int, list[dict[str, Any]]]) -> None:
        """One ReportChargingProfiles per EVSE, after the answer."""
        evses = sorted(by_evse)
        for n, evse in enumerate(evses):
            payload = {
                "requestId": request_id,
                "chargingLimitSource": "CSO",
                "evseId": evse,
                "chargingProfile": snake_to_camel_case(by_evse[evse]),
                "tbc": n < len(evses) - 1,
            }
            await self.request("ReportChargingProfiles", payload)  # type: ignore[attr-defined]  # Words201

    @after(Action.get_charging_profiles)
    def after_get_charging_profiles(self, **_: Any) -> None:
        self._answered()
