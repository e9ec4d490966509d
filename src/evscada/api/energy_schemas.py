"""The HTTP contract for charging profiles, composite schedules, charging limits and vehicles' charging needs.

The profile's fields have the core's names, so the field a 422 names (`schedule.periods[1].start_s`) is the
field of the request. The bodies check types and ranges; the rules of each OCPP version and of the station are
the core's (core/energy/profiles.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from evscada.api.params import INT32_MAX, EvseIdOrZero, Time
from evscada.api.schemas import CommandOut
from evscada.core.energy.profiles import (
    ChargingProfile,
    ChargingSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)
from evscada.core.energy.service import CompositeRead, ProfilesCleared, ProfileSent

Int32 = Annotated[int, Ge(-INT32_MAX - 1), Le(INT32_MAX)]
"""OCPP's integer, where the core checks the rule (its 422 names the field)."""
StackLevel = Annotated[int, Ge(0), Le(INT32_MAX)]
ProfileId = Annotated[int, Ge(1), Le(INT32_MAX)]
Number = Annotated[float, Field(allow_inf_nan=False)]
LimitSource = Literal["EMS", "Other", "SO", "CSO"]


class PeriodBody(BaseModel):
    start_s: Int32 = Field(description="seconds from the schedule's start; the first is 0, each later one more")
    limit: Number = Field(description="in the schedule's unit: A per phase, or W; 1.6 takes one decimal")
    phases: Int32 | None = Field(None, description="1, 2 or 3; absent: 3 on AC")
    phase_to_use: Int32 | None = Field(None, description="2.0.1, with phases 1 and a station that switches phases")

    def to_core(self) -> SchedulePeriod:
        return SchedulePeriod(self.start_s, self.limit, self.phases, self.phase_to_use)


class ScheduleBody(BaseModel):
    unit: RateUnit = Field(description="A (per phase) or W, as the station allows")
    periods: list[PeriodBody] = Field(max_length=1024, description="at most the station's periods per schedule")
    start: Time | None = Field(None, description="Absolute (default: when it is set) and Recurring; not Relative")
    duration_s: Int32 | None = Field(None, description="absent: the last period lasts until the profile ends")
    min_charging_rate: Number | None = None

    def to_core(self) -> ChargingSchedule:
        return ChargingSchedule(
            unit=self.unit,
            periods=tuple(p.to_core() for p in self.periods),
            start=self.start,
            duration_s=self.duration_s,
            min_charging_rate=self.min_charging_rate,
        )


class ChargingProfileBody(BaseModel):
    id: Int32 = Field(description="the chargingProfileId; the same id replaces the station's profile")
    stack_level: Int32 = Field(description="0 or more; the higher wins within a purpose")
    purpose: ProfilePurpose = Field(
        description="ChargingStationMax (1.6 ChargePointMax; on EVSE 0), TxDefault, Tx (names transaction_id); "
        "ChargingStationExternalConstraints is the station's own and is refused"
    )
    kind: ProfileKind = ProfileKind.ABSOLUTE
    recurrency: Recurrency | None = Field(None, description="Recurring profiles only")
    valid_from: Time | None = None
    valid_to: Time | None = None
    transaction_id: str | None = Field(
        None, min_length=1, max_length=36, description="Tx: the station's transaction id (1.6: an integer)"
    )
    schedule: ScheduleBody

    def to_core(self) -> ChargingProfile:
        return ChargingProfile(
            id=self.id,
            stack_level=self.stack_level,
            purpose=self.purpose,
            kind=self.kind,
            schedule=self.schedule.to_core(),
            recurrency=self.recurrency,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            transaction_id=self.transaction_id,
        )


class SetChargingProfileBody(ChargingProfileBody):
    evse_id: EvseIdOrZero = Field(description="EVSE (1.6: connector); 0: the station as a whole")
    reason: str | None = Field(None, max_length=500, description="why; kept in the command log")


class ChargingReportBody(BaseModel):
    evse_id: EvseIdOrZero | None = Field(None, description="absent: every EVSE; 0: the station")
    purpose: ProfilePurpose | None = None
    stack_level: StackLevel | None = None
    profile_ids: list[ProfileId] = Field(default_factory=list, max_length=100)
    sources: list[LimitSource] = Field(default_factory=list, max_length=4, description="who set them")
    reason: str | None = Field(None, max_length=500)


class PeriodOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    start_s: int
    limit: float
    phases: int | None
    phase_to_use: int | None


class ScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    unit: str
    periods: list[PeriodOut]
    start: datetime | None
    duration_s: int | None
    min_charging_rate: float | None


class ChargingProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from core.energy.profiles.ChargingProfile

    id: int
    stack_level: int
    purpose: str
    kind: str
    recurrency: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    transaction_id: str | None
    schedule: ScheduleOut


class StoredProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from core.energy.service.StoredProfile

    id: int = Field(description="the record's id (the station knows the profile by profile.id)")
    station_id: str
    evse_id: int | None = Field(description="0: the station; null: a remote start's EVSE until its transaction starts")
    via: str = Field(description="set | remote_start")
    status: str = Field(description="pending | accepted (in force) | rejected | failed | cleared | replaced | expired")
    in_force: bool
    answer: str | None = Field(description="the station's answer, or what happened instead (offline, timeout ...)")
    transaction_id: str | None
    profile: ChargingProfileOut
    set_by: str
    set_at: datetime
    reason: str | None
    command_id: int | None
    answered_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None


class ProfileCommandOut(CommandOut):
    profile: StoredProfileOut

    @classmethod
    def of_sent(cls, sent: ProfileSent) -> ProfileCommandOut:
        return cls(**CommandOut.of(sent.outcome).model_dump(), profile=StoredProfileOut.model_validate(sent.profile))


class ClearCommandOut(CommandOut):
    cleared: list[StoredProfileOut] = Field(description="the profiles no longer in force")

    @classmethod
    def of_cleared(cls, done: ProfilesCleared) -> ClearCommandOut:
        cleared = [StoredProfileOut.model_validate(p) for p in done.cleared]
        return cls(**CommandOut.of(done.outcome).model_dump(), cleared=cleared)


class CompositeScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    evse_id: int
    start: datetime | None
    duration_s: int | None
    unit: str
    periods: list[PeriodOut]


class CompositeCommandOut(CommandOut):
    schedule: CompositeScheduleOut | None = Field(description="null unless the station answered Accepted")

    @classmethod
    def of_read(cls, read: CompositeRead) -> CompositeCommandOut:
        schedule = CompositeScheduleOut.model_validate(read.schedule) if read.schedule else None
        return cls(**CommandOut.of(read.outcome).model_dump(), schedule=schedule)


class ReportedProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # core.energy.reports.ReportedProfile

    request_id: int = Field(description="the command log id of the get_charging_profiles that asked")
    evse_id: int
    source: str = Field(description="who set it: EMS, Other, SO, CSO")
    profile: ChargingProfileOut
    reported_at: datetime


class ChargingLimitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # core.energy.reports.ChargingLimit

    id: int
    source: str = Field(description="EMS (a local energy manager), SO (the grid operator), CSO, Other")
    evse_id: int | None = Field(description="null: the station as a whole")
    grid_critical: bool | None
    schedules: list[ScheduleOut]
    reported_at: datetime | None
    active: bool
    ended_at: datetime | None
    end_reason: str | None = Field(description="cleared | replaced")


class EvChargingNeedsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # core.energy.reports.EvChargingNeeds

    id: int
    evse_id: int
    transfer_mode: str = Field(description="DC, AC_single_phase, AC_two_phase, AC_three_phase")
    departure_time: datetime | None
    energy_amount_wh: float | None
    ev_min_current_a: float | None
    ev_max_current_a: float | None
    ev_max_voltage_v: float | None
    ev_max_power_w: float | None
    state_of_charge: float | None = Field(description="%")
    ev_energy_capacity_wh: float | None
    full_soc: float | None
    bulk_soc: float | None
    max_schedule_tuples: int | None
    reported_at: datetime | None
