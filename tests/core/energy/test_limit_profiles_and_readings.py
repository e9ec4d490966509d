"""What load management sends (profiles in A for AC, W otherwise) and what it reads of a session's meter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from evscada.core import events
from evscada.core.energy.allocation import Allocation, Reason
from evscada.core.energy.failsafe import FailSafe
from evscada.core.energy.limit_profiles import (
    FAILSAFE_PROFILE_ID,
    STACK_LEVEL,
    allocation_profile,
    failsafe_profile,
)
from evscada.core.energy.profiles import ProfilePurpose, RateUnit
from evscada.core.energy.session_readings import SessionReadings
from evscada.core.model import EvseRef, StationId, Supply, TransactionPk

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SID = StationId("CP-1")


def test_an_ac_allocation_goes_in_amperes_rounded_down_and_a_dc_one_in_whole_watts() -> None:
    ac = Allocation("1", SID, 7359.9, 10.666, (1, 2, 3), Reason.EQUAL_SHARE)
    profile = allocation_profile(ac, 2, Supply.AC, T0 + timedelta(minutes=15))
    assert (profile.id, profile.stack_level, profile.purpose) == (900_002, STACK_LEVEL, ProfilePurpose.TX_DEFAULT)
    assert (profile.schedule.unit, profile.schedule.periods[0].limit) == (RateUnit.AMPERES, 10.6)
    assert profile.valid_to == T0 + timedelta(minutes=15)
    dc = Allocation("2", SID, 33333.9, None, (), Reason.EQUAL_SHARE)
    profile = allocation_profile(dc, 1, Supply.DC, T0)
    assert (profile.schedule.unit, profile.schedule.periods[0].limit) == (RateUnit.WATTS, 33333.0)
    # A station whose supply is not known is sent W even for an AC allocation: W is what every station takes.
    assert allocation_profile(ac, 1, None, T0).schedule.unit is RateUnit.WATTS


def test_the_fail_safe_is_station_wide_below_the_allocations_and_never_ends() -> None:
    limits = FailSafe(SID, (11000.0, 9000.0), (15.94, 13.04), 20000.0, 28.98, reserved=False)
    profile = failsafe_profile(limits, Supply.AC)
    assert (profile.id, profile.stack_level, profile.valid_to) == (FAILSAFE_PROFILE_ID, 0, None)
    assert (profile.schedule.unit, profile.schedule.periods[0].limit) == (RateUnit.AMPERES, 13.0)  # the lowest EVSE
    assert failsafe_profile(limits, Supply.DC).schedule.periods[0].limit == 9000.0


def _meter(at: datetime, wh: float | None, power: float | None = None, soc: float | None = None) -> events.Event:
    return events.MeterValuesRecorded(
        station_id=SID,
        at=at,
        evse=EvseRef(1, 1),
        transaction_pk=TransactionPk(7),
        count=1,
        energy_register_wh=wh,
        power_w=power,
        soc_pct=soc,
    )


def test_the_draw_is_the_reported_power_else_the_registers_slope_and_the_peak_and_soc_are_kept() -> None:
    readings = SessionReadings()
    readings.metered(_meter(T0, 1000.0, soc=40.0))
    readings.metered(_meter(T0 + timedelta(seconds=60), 1500.0))  # 500 Wh in a minute: 30 kW
    meter = readings.meter(TransactionPk(7))
    assert meter is not None and meter.draw_w == 30_000.0 and meter.soc_pct == 40.0
    readings.metered(_meter(T0 + timedelta(seconds=70), 1510.0, power=7000.0, soc=41.5))
    assert (meter.draw_w, meter.peak_w, meter.soc_pct) == (7000.0, 30_000.0, 41.5)
    readings.ended(
        events.TransactionEnded(
            station_id=SID, at=T0, transaction_pk=TransactionPk(7), stop_reason=None, energy_wh=None, evse=EvseRef(1, 1)
        )
    )
    assert readings.meter(TransactionPk(7)) is None
