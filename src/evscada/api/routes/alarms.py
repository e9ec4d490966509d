"""Alarms: the active list and the history, operators' actions on them, and station maintenance."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, Field, model_validator

from evscada.api.deps import CoreDep, Operator, Viewer
from evscada.api.params import Id, Offset, Time
from evscada.core.alarms.rules import SOURCES
from evscada.core.alarms.service import ACKNOWLEDGE_MANY, AlarmFilter, Maintenance
from evscada.core.model import Alarm, AlarmId, AlarmPriority, AlarmState, SiteId, StationId

router = APIRouter(tags=["alarms"])


class AlarmOut(BaseModel):
    id: int
    key: str = Field(description="the condition; at most one active alarm per key")
    source: str
    station_id: str | None
    site_id: int | None
    evse_id: int | None
    connector_id: int | None
    priority: int = Field(description="1 critical, 2 high, 3 medium, 4 info")
    message: str
    state: str = Field(description="active | cleared")
    raised_at: datetime
    last_raised_at: datetime
    count: int = Field(description="how often the condition was reported while active")
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    comment: str | None
    shelved_until: datetime | None
    shelved_reason: str | None
    suppressed: bool = Field(description="raised while the station was in maintenance: recorded, not notified")
    cause_id: int | None = Field(
        description="ISA-18.2 consequential alarm: the first alarm of the same station (and EVSE, or station-wide), "
        "still active, raised at most 60 s before this one; null when this alarm is not a consequence"
    )
    consequences: int = Field(description="how many alarms were recorded with this one as their cause")

    @classmethod
    def of(cls, alarm: Alarm) -> AlarmOut:
        return cls(
            id=alarm.id,
            key=alarm.key,
            source=alarm.source,
            station_id=alarm.station_id,
            site_id=alarm.site_id,
            evse_id=alarm.evse.evse_id if alarm.evse else None,
            connector_id=alarm.evse.connector_id if alarm.evse else None,
            priority=int(alarm.priority),
            message=alarm.message,
            state=str(alarm.state),
            raised_at=alarm.raised_at,
            last_raised_at=alarm.last_raised_at,
            count=alarm.count,
            cleared_at=alarm.cleared_at,
            acknowledged_at=alarm.acknowledged_at,
            acknowledged_by=alarm.acknowledged_by,
            comment=alarm.comment,
            shelved_until=alarm.shelved_until,
            shelved_reason=alarm.shelved_reason,
            suppressed=alarm.suppressed,
            cause_id=alarm.cause_id,
            consequences=alarm.consequences,
        )


def alarm_json(alarm: Alarm) -> dict[str, Any]:
    """The alarm as the REST API shows it; the live event stream sends the same."""
    return AlarmOut.of(alarm).model_dump(mode="json")


class AcknowledgeIn(BaseModel):
    comment: str | None = Field(None, max_length=1000)
    consequences: bool = Field(
        False, description="also acknowledge the alarms recorded as this one's consequences (same comment, audited)"
    )


class AcknowledgeManyIn(BaseModel):
    ids: list[Id] | None = Field(
        None, min_length=1, max_length=ACKNOWLEDGE_MANY, description="the alarms to acknowledge ..."
    )
    all: bool = Field(False, description="... or every standing alarm nobody has acknowledged yet")
    comment: str | None = Field(None, max_length=1000, description="added to each alarm")

    @model_validator(mode="after")
    def _one_choice(self) -> AcknowledgeManyIn:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true")
        return self


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


class ShelveIn(BaseModel):
    reason: str = Field(min_length=1, max_length=300, description="why the alarm is a nuisance now")
    minutes: float | None = Field(None, gt=0, le=60 * 24 * 30, description="shelve for this long ...")
    until: Time | None = Field(None, description="... or until then (ISO 8601 with offset)")

    @model_validator(mode="after")
    def _one_end(self) -> ShelveIn:
        if (self.minutes is None) == (self.until is None):
            raise ValueError("give either minutes or until")
        return self


class MaintenanceIn(BaseModel):
    until: Time = Field(description="when the station returns to service (ISO 8601 with offset)")
    reason: str = Field(min_length=1, max_length=300)


class MaintenanceOut(BaseModel):
    station_id: str
    started_at: datetime
    until: datetime
    reason: str
    started_by: str

    @classmethod
    def of(cls, m: Maintenance) -> MaintenanceOut:
        return cls(
            station_id=m.station_id, started_at=m.started_at, until=m.until, reason=m.reason, started_by=m.started_by
        )


def _filter(
    *,
    state: Annotated[
        Literal["active", "cleared", "standing"] | None,
        Query(description="active | cleared | standing (active, or cleared and not yet acknowledged); absent: all"),
    ] = None,
    station_id: str | None = None,
    site_id: Id | None = None,
    source: Annotated[str | None, Query(description=f"one of: {', '.join(SOURCES)}")] = None,
    priority: Annotated[int | None, Query(ge=1, le=4, description="1 critical .. 4 info")] = None,
    since: Annotated[Time | None, Query(description="raised at or after (ISO 8601 with offset)")] = None,
    until: Annotated[Time | None, Query(description="raised before")] = None,
) -> AlarmFilter:
    if source is not None and source not in SOURCES:
        raise HTTPException(422, f"source must be one of: {', '.join(SOURCES)}")
    return AlarmFilter(
        state=AlarmState(state) if state in ("active", "cleared") else None,
        standing=state == "standing",
        station_id=StationId(station_id) if station_id else None,
        site_id=SiteId(site_id) if site_id is not None else None,
        source=source,
        priority=AlarmPriority(priority) if priority is not None else None,
        since=since,
        until=until,
    )


FilterDep = Annotated[AlarmFilter, Depends(_filter)]

CSV_COLUMNS = tuple(AlarmOut.model_fields)


@router.get("/alarms", response_model=list[AlarmOut])
async def list_alarms(
    *,
    core: CoreDep,
    _: Viewer,
    where: FilterDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[AlarmOut]:
    """Active and standing alarms come most urgent first; otherwise newest first."""
    alarms = await core.alarms.list(where=replace(where, limit=limit, offset=offset))
    return [AlarmOut.of(alarm) for alarm in alarms]


@router.get("/alarms/export", responses={200: {"content": {"text/csv": {}}, "description": "alarm history as CSV"}})
async def export_alarms(
    *,
    core: CoreDep,
    _: Viewer,
    where: FilterDep,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    """The alarm history (same filters as the list), newest first, as CSV for a spreadsheet or a report."""
    alarms = await core.alarms.list(where=replace(where, limit=limit))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(alarm_json(alarm) for alarm in alarms)
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="alarms.csv"'},
    )


@router.get("/alarms/{alarm_id}", response_model=AlarmOut, responses={404: {"description": "unknown alarm"}})
async def get_alarm(alarm_id: Id, core: CoreDep, _: Viewer) -> AlarmOut:
    return AlarmOut.of(await core.alarms.get(alarm_id=AlarmId(alarm_id)))


@router.post(
    "/alarms/{alarm_id}/acknowledge",
    response_model=AlarmOut,
    responses={404: {"description": "unknown alarm"}, 409: {"description": "acknowledged already"}},
)
async def acknowledge_alarm(alarm_id: Id, core: CoreDep, user: Operator, body: AcknowledgeIn | None = None) -> AlarmOut:
    """Record who has seen the alarm (and an optional comment) in the alarm and the audit log; alarms of one-off
    events clear with it. With `consequences: true` its unacknowledged consequences are acknowledged too (409 only
    when nothing of the group was left to acknowledge)."""
    comment = body.comment if body else None
    if body is not None and body.consequences:
        group = await core.alarms.acknowledge_group(alarm_id=AlarmId(alarm_id), by=user.username, comment=comment)
        if group[0].id == alarm_id:
            return AlarmOut.of(group[0])
        return AlarmOut.of(await core.alarms.get(alarm_id=AlarmId(alarm_id)))  # acknowledged before: as it is now
    return AlarmOut.of(await core.alarms.acknowledge(alarm_id=AlarmId(alarm_id), by=user.username, comment=comment))


@router.post(
    "/alarms/acknowledge",
    response_model=list[AlarmOut],
    responses={404: {"description": "an unknown alarm id (nothing acknowledged)"}},
)
async def acknowledge_alarms(body: AcknowledgeManyIn, core: CoreDep, user: Operator) -> list[AlarmOut]:
    """Acknowledge several alarms at once with one comment, all or none; answers the alarms acknowledged now
    (one already acknowledged by someone else is left out, not an error)."""
    ids = None if body.all else [AlarmId(i) for i in body.ids or ()]
    alarms = await core.alarms.acknowledge_many(alarm_ids=ids, by=user.username, comment=body.comment)
    return [AlarmOut.of(alarm) for alarm in alarms]


@router.post("/alarms/{alarm_id}/comment", response_model=AlarmOut, responses={404: {"description": "unknown alarm"}})
async def comment_alarm(alarm_id: Id, body: CommentIn, core: CoreDep, user: Operator) -> AlarmOut:
    return AlarmOut.of(await core.alarms.comment(alarm_id=AlarmId(alarm_id), by=user.username, text=body.text))


@router.post(
    "/alarms/{alarm_id}/shelve",
    response_model=AlarmOut,
    responses={404: {"description": "unknown alarm"}, 409: {"description": "the alarm is cleared"}},
)
async def shelve_alarm(alarm_id: Id, body: ShelveIn, core: CoreDep, user: Operator) -> AlarmOut:
    """Keep a nuisance alarm out of notifications for a while; it comes back by itself when the time is up."""
    until = body.until or core.clock.now() + timedelta(minutes=body.minutes or 0)
    return AlarmOut.of(
        await core.alarms.shelve(alarm_id=AlarmId(alarm_id), by=user.username, until=until, reason=body.reason)
    )


@router.post(
    "/alarms/{alarm_id}/unshelve",
    response_model=AlarmOut,
    responses={404: {"description": "unknown alarm"}, 409: {"description": "the alarm is not shelved"}},
)
async def unshelve_alarm(alarm_id: Id, core: CoreDep, user: Operator) -> AlarmOut:
    return AlarmOut.of(await core.alarms.unshelve(alarm_id=AlarmId(alarm_id), by=user.username))


@router.get(
    "/stations/{station_id}/maintenance",
    response_model=MaintenanceOut | None,
    responses={404: {"description": "unknown station"}},
)
async def get_maintenance(station_id: str, core: CoreDep, _: Viewer) -> MaintenanceOut | None:
    """The maintenance period in force, or null."""
    maintenance = await core.alarms.maintenance(station_id=StationId(station_id))
    return MaintenanceOut.of(maintenance) if maintenance else None


@router.put(
    "/stations/{station_id}/maintenance",
    response_model=MaintenanceOut,
    responses={404: {"description": "unknown station"}},
)
async def start_maintenance(station_id: str, body: MaintenanceIn, core: CoreDep, user: Operator) -> MaintenanceOut:
    """Take a station out of service until a time: its alarms are still recorded but marked suppressed."""
    maintenance = await core.alarms.start_maintenance(
        station_id=StationId(station_id), by=user.username, until=body.until, reason=body.reason
    )
    return MaintenanceOut.of(maintenance)


@router.delete(
    "/stations/{station_id}/maintenance",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: {"description": "unknown station"}, 409: {"description": "not in maintenance"}},
)
async def end_maintenance(station_id: str, core: CoreDep, user: Operator) -> Response:
    await core.alarms.end_maintenance(station_id=StationId(station_id), by=user.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
