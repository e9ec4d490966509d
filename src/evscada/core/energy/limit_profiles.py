"""The profiles load management sends: an allocation on an EVSE (leased) and a station's fail-safe share.

Both are TxDefault: an allocation at `STACK_LEVEL` on the session's EVSE, valid until its lease ends; the fail-safe
station-wide (EVSE 0) at `FAILSAFE_STACK_LEVEL`, without an end, so it applies once an allocation lapsed
(ADR 10). An AC station is sent A per phase (0.1 A steps), others W (whole watts).
"""

from __future__ import annotations

import math
from datetime import datetime

from evscada.core.energy.allocation import Allocation
from evscada.core.energy.failsafe import FailSafe
from evscada.core.energy.profiles import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
)
from evscada.core.model import Supply

PROFILE_ID_BASE = 900_000  # the allocation profiles: this plus the EVSE id
FAILSAFE_PROFILE_ID = 899_999  # the station-wide fail-safe TxDefault
STACK_LEVEL = 1  # allocations: above the fail-safe
FAILSAFE_STACK_LEVEL = 0


def _tx_default(
    profile_id: int, stack_level: int, *, in_amps: bool, limit: float, valid_to: datetime | None
) -> ChargingProfile:
    return ChargingProfile(
        id=profile_id,
        stack_level=stack_level,
        purpose=ProfilePurpose.TX_DEFAULT,
        kind=ProfileKind.ABSOLUTE,
        schedule=ChargingSchedule(
            unit=RateUnit.AMPERES if in_amps else RateUnit.WATTS, periods=(SchedulePeriod(start_s=0, limit=limit),)
        ),
        valid_to=valid_to,
    )


def allocation_profile(
    allocation: Allocation, evse_id: int, supply: Supply | None, valid_to: datetime
) -> ChargingProfile:
    """A session's allocation as its EVSE's TxDefault until `valid_to`."""
    profile_id = PROFILE_ID_BASE + evse_id
    if supply is Supply.AC and allocation.amps is not None:
        amps = math.floor(allocation.amps * 10) / 10
        return _tx_default(profile_id, STACK_LEVEL, in_amps=True, limit=amps, valid_to=valid_to)
    return _tx_default(profile_id, STACK_LEVEL, in_amps=False, limit=float(int(allocation.watts)), valid_to=valid_to)


def failsafe_value(limits: FailSafe, supply: Supply | None) -> float:
    """The fail-safe TxDefault's limit: A per phase for AC (0.1 A steps), else W."""
    if supply is Supply.AC and limits.evse_a is not None:
        return math.floor(min(limits.evse_a) * 10) / 10
    return float(int(min(limits.evse_w)))


def failsafe_profile(limits: FailSafe, supply: Supply | None) -> ChargingProfile:
    """The station-wide fail-safe TxDefault: no end, below every allocation."""
    in_amps = supply is Supply.AC and limits.evse_a is not None
    limit = failsafe_value(limits, supply)
    return _tx_default(FAILSAFE_PROFILE_ID, FAILSAFE_STACK_LEVEL, in_amps=in_amps, limit=limit, valid_to=None)
