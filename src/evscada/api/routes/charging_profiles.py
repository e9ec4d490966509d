"""Charging profiles: set, listed, cleared; the composite schedule; what 2.0.1 stations report about limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.energy_schemas import (
    ChargingLimitOut,
    ChargingReportBody,
    ClearCommandOut,
    CompositeCommandOut,
    EvChargingNeedsOut,
    ProfileCommandOut,
    ProfileId,
    ReportedProfileOut,
    SetChargingProfileBody,
    StackLevel,
    StoredProfileOut,
)
from evscada.api.params import EvseIdOrZero
from evscada.api.routes.commands import FAILURE_DOCS, raise_failure
from evscada.api.schemas import CommandOut
from evscada.core.control.commands import GetChargingProfiles
from evscada.core.energy.profiles import ProfilePurpose, RateUnit
from evscada.core.energy.service import ProfileMatch
from evscada.core.errors import CommandNotSupported
from evscada.core.model import StationId

router = APIRouter(tags=["charging profiles"])

PROFILE_DOCS = FAILURE_DOCS | {422: {"description": "the profile breaks a rule of its version or the station: `field`"}}
Limit = Annotated[int, Query(ge=1, le=1000)]
# A composite schedule of more than a week is more than any station plans ahead.
Duration = Annotated[int, Query(ge=1, le=7 * 86400, description="seconds from now")]


def _unsupported(exc: CommandNotSupported) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, exc.message)


@router.post(
    "/stations/{station_id}/charging-profiles",
    response_model=ProfileCommandOut,
    responses=PROFILE_DOCS,
    summary="set a charging profile",
)
async def set_charging_profile(
    station_id: str, body: SetChargingProfileBody, core: CoreDep, user: Operator
) -> ProfileCommandOut:
    """Checked against the version's rules and the station's limits, stored, sent; its status is the answer."""
    try:
        sent = await core.charging_profiles.set(
            station_id=StationId(station_id),
            evse_id=body.evse_id,
            profile=body.to_core(),
            actor=user.username,
            reason=body.reason,
        )
    except CommandNotSupported as exc:
        raise _unsupported(exc) from None
    result = ProfileCommandOut.of_sent(sent)
    raise_failure(result)
    return result


@router.get("/stations/{station_id}/charging-profiles", response_model=list[StoredProfileOut])
async def charging_profiles(
    station_id: str,
    core: CoreDep,
    _: Viewer,
    in_force: bool | None = Query(None, description="true: in force only; false: ended or refused only"),
    limit: Limit = 100,
) -> list[StoredProfileOut]:
    """The profiles sent to the station, newest first, each with its status."""
    stored = await core.charging_profiles.profiles(station_id=StationId(station_id), in_force=in_force, limit=limit)
    return [StoredProfileOut.model_validate(p) for p in stored]


async def _clear(
    station_id: str, match: ProfileMatch, core: CoreDep, actor: str, reason: str | None
) -> ClearCommandOut:
    try:
        done = await core.charging_profiles.clear(
            station_id=StationId(station_id), match=match, actor=actor, reason=reason
        )
    except CommandNotSupported as exc:
        raise _unsupported(exc) from None
    result = ClearCommandOut.of_cleared(done)
    raise_failure(result)
    return result


@router.delete(
    "/stations/{station_id}/charging-profiles/{profile_id}",
    response_model=ClearCommandOut,
    responses=FAILURE_DOCS,
    summary="clear a charging profile by its id",
)
async def clear_charging_profile(
    station_id: str,
    profile_id: ProfileId,
    core: CoreDep,
    user: Operator,
    reason: str | None = Query(None, max_length=500),
) -> ClearCommandOut:
    """The profile id the station knows (profile.id), not the record's."""
    return await _clear(station_id, ProfileMatch(profile_id=profile_id), core, user.username, reason)


@router.delete(
    "/stations/{station_id}/charging-profiles",
    response_model=ClearCommandOut,
    responses=FAILURE_DOCS,
    summary="clear the charging profiles that match",
)
async def clear_charging_profiles(
    *,
    station_id: str,
    core: CoreDep,
    user: Operator,
    evse_id: EvseIdOrZero | None = None,
    purpose: ProfilePurpose | None = None,
    stack_level: StackLevel | None = None,
    reason: str | None = Query(None, max_length=500),
) -> ClearCommandOut:
    """Every criterion given must match; none given clears every profile the CSMS may clear."""
    match = ProfileMatch(evse_id=evse_id, purpose=purpose, stack_level=stack_level)
    return await _clear(station_id, match, core, user.username, reason)


@router.get(
    "/stations/{station_id}/composite-schedule",
    response_model=CompositeCommandOut,
    responses=FAILURE_DOCS,
    summary="get the composite schedule",
)
async def composite_schedule(
    *,
    station_id: str,
    core: CoreDep,
    user: Viewer,
    duration: Duration,
    evse_id: EvseIdOrZero = 0,
    unit: RateUnit | None = None,
) -> CompositeCommandOut:
    """Asks the station (GetCompositeSchedule, logged as a command) what its profiles add up to; it changes nothing,
    so viewers may ask."""
    try:
        read = await core.charging_profiles.composite_schedule(
            station_id=StationId(station_id), evse_id=evse_id, duration_s=duration, unit=unit, actor=user.username
        )
    except CommandNotSupported as exc:
        raise _unsupported(exc) from None
    result = CompositeCommandOut.of_read(read)
    raise_failure(result)
    return result


@router.post(
    "/stations/{station_id}/charging-profiles/reported",
    response_model=CommandOut,
    responses=FAILURE_DOCS,
    summary="ask a 2.0.1 station for its charging profiles",
)
async def request_charging_profiles(
    station_id: str, body: ChargingReportBody, core: CoreDep, user: Operator
) -> CommandOut:
    """GetChargingProfiles; the station's ReportChargingProfiles follow (requestId: command_id) and are read with
    GET on the same path."""
    command = GetChargingProfiles(
        evse_id=body.evse_id,
        purpose=body.purpose,
        stack_level=body.stack_level,
        profile_ids=tuple(body.profile_ids),
        sources=tuple(body.sources),
    )
    try:
        outcome = await core.charging_profiles.request_report(
            station_id=StationId(station_id), command=command, actor=user.username, reason=body.reason
        )
    except CommandNotSupported as exc:
        raise _unsupported(exc) from None
    result = CommandOut.of(outcome)
    raise_failure(result)
    return result


@router.get("/stations/{station_id}/charging-profiles/reported", response_model=list[ReportedProfileOut])
async def reported_charging_profiles(station_id: str, core: CoreDep, _: Viewer) -> list[ReportedProfileOut]:
    """What the station reported to the latest request, whoever set the profiles (EMS, SO, CSO ...)."""
    reported = await core.charging_reports.reported(station_id=StationId(station_id))
    return [ReportedProfileOut.model_validate(p) for p in reported]


@router.get("/stations/{station_id}/charging-limits", response_model=list[ChargingLimitOut])
async def charging_limits(
    station_id: str,
    core: CoreDep,
    _: Viewer,
    ended: bool = Query(False, description="true: the cleared and replaced ones as well"),
    limit: Limit = 100,
) -> list[ChargingLimitOut]:
    """Limits set outside the CSMS (2.0.1 NotifyChargingLimit) in force, newest first."""
    active = None if ended else True
    limits = await core.charging_reports.limits(station_id=StationId(station_id), active=active, limit=limit)
    return [ChargingLimitOut.model_validate(x) for x in limits]


@router.get("/stations/{station_id}/ev-charging-needs", response_model=list[EvChargingNeedsOut])
async def ev_charging_needs(
    station_id: str, core: CoreDep, _: Viewer, evse_id: EvseIdOrZero | None = None, limit: Limit = 100
) -> list[EvChargingNeedsOut]:
    """What vehicles asked for (2.0.1 NotifyEVChargingNeeds), newest first."""
    sid = StationId(station_id)
    needs = await core.charging_reports.ev_charging_needs(station_id=sid, evse_id=evse_id, limit=limit)
    return [EvChargingNeedsOut.model_validate(n) for n in needs]
