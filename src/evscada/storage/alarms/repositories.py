"""Alarms and maintenance periods: written by the alarm engine and by operators, read by the API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, Select, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.alarms.service import AlarmFilter, Maintenance
from evscada.core.model import Alarm, AlarmId, AlarmPriority, AlarmState, EvseRef, SiteId, StationId
from evscada.storage import tables as t

A = t.alarms.c
M = t.station_maintenance.c

_consequence = t.alarms.alias("consequence")
# How many alarms name the row as their cause: one index lookup per row (ix_alarms_cause_id).
_CONSEQUENCES = (
    select(func.count()).select_from(_consequence).where(_consequence.c.cause_id == A.id).scalar_subquery()
).label("consequences")


def _alarms() -> Select[tuple[object, ...]]:
    """The alarms table with each alarm's count of consequences."""
    return select(t.alarms, _CONSEQUENCES)


def _alarm_from(row: RowMapping) -> Alarm:
    evse = None if row["evse_id"] is None else EvseRef(row["evse_id"], row["connector_id"])
    return Alarm(
        id=AlarmId(row["id"]),
        key=row["key"],
        source=row["source"],
        station_id=None if row["station_id"] is None else StationId(row["station_id"]),
        evse=evse,
        priority=AlarmPriority(row["priority"]),
        message=row["message"],
        state=AlarmState(row["state"]),
        raised_at=row["raised_at"],
        last_raised_at=row["last_raised_at"],
        count=row["count"],
        cleared_at=row["cleared_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        comment=row["comment"],
        shelved_until=row["shelved_until"],
        shelved_reason=row["shelved_reason"],
        suppressed=row["suppressed"],
        site_id=None if row["site_id"] is None else SiteId(row["site_id"]),
        cause_id=None if row["cause_id"] is None else AlarmId(row["cause_id"]),
        consequences=row.get("consequences") or 0,
    )


def _maintenance_from(row: RowMapping) -> Maintenance:
    return Maintenance(
        station_id=StationId(row["station_id"]),
        started_at=row["started_at"],
        until=row["until"],
        reason=row["reason"],
        started_by=row["started_by"],
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
    )


class SqlAlarms:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, alarm: Alarm) -> Alarm:
        values = {
            "key": alarm.key,
            "source": alarm.source,
            "station_id": alarm.station_id,
            "site_id": alarm.site_id,
            "evse_id": alarm.evse.evse_id if alarm.evse else None,
            "connector_id": alarm.evse.connector_id if alarm.evse else None,
            "priority": int(alarm.priority),
            "message": alarm.message[:500],
            "state": str(alarm.state),
            "raised_at": alarm.raised_at,
            "last_raised_at": alarm.last_raised_at,
            "count": alarm.count,
            "shelved_until": alarm.shelved_until,
            "shelved_reason": alarm.shelved_reason,
            "suppressed": alarm.suppressed,
            "cause_id": alarm.cause_id,
        }
        result = await self._c.execute(insert(t.alarms).values(**values).returning(A.id))
        alarm.id = AlarmId(result.scalar_one())
        return alarm

    async def get(self, *, alarm_id: AlarmId) -> Alarm | None:
        row = (await self._c.execute(_alarms().where(A.id == alarm_id))).mappings().first()
        return None if row is None else _alarm_from(row)

    async def active(self, *, key: str) -> Alarm | None:
        statement = _alarms().where(A.key == key, A.state == str(AlarmState.ACTIVE))
        row = (await self._c.execute(statement)).mappings().first()
        return None if row is None else _alarm_from(row)

    async def active_keys(self) -> dict[str, AlarmId]:
        rows = await self._c.execute(select(A.key, A.id).where(A.state == str(AlarmState.ACTIVE)))
        return {key: AlarmId(alarm_id) for key, alarm_id in rows}

    async def last_shelf(self, *, key: str, now: datetime) -> tuple[datetime, str | None] | None:
        statement = (
            select(A.shelved_until, A.shelved_reason)
            .where(A.key == key, A.shelved_until > now)
            .order_by(A.id.desc())
            .limit(1)
        )
        row = (await self._c.execute(statement)).first()
        return None if row is None else (row[0], row[1])

    async def repeat(self, *, alarm_id: AlarmId, at: datetime, message: str, priority: AlarmPriority) -> None:
        await self._c.execute(
            update(t.alarms)
            .where(A.id == alarm_id)
            .values(count=A.count + 1, last_raised_at=at, message=message[:500], priority=int(priority))
        )

    async def clear(self, *, alarm_id: AlarmId, at: datetime) -> None:
        await self._c.execute(
            update(t.alarms).where(A.id == alarm_id).values(state=str(AlarmState.CLEARED), cleared_at=at)
        )

    async def acknowledge(self, *, alarm_id: AlarmId, at: datetime, by: str, comment: str | None) -> bool:
        result = await self._c.execute(
            update(t.alarms)
            .where(A.id == alarm_id, A.acknowledged_at.is_(None))
            .values(acknowledged_at=at, acknowledged_by=by, comment=comment)
        )
        return bool(result.rowcount)

    async def set_comment(self, *, alarm_id: AlarmId, comment: str) -> None:
        await self._c.execute(update(t.alarms).where(A.id == alarm_id).values(comment=comment))

    async def shelve(self, *, alarm_id: AlarmId, until: datetime | None, reason: str | None) -> None:
        await self._c.execute(
            update(t.alarms).where(A.id == alarm_id).values(shelved_until=until, shelved_reason=reason)
        )

    async def shelves_due(self, *, now: datetime) -> list[Alarm]:
        rows = await self._c.execute(select(t.alarms).where(A.shelved_until <= now))
        return [_alarm_from(row) for row in rows.mappings()]

    async def unsuppress(self, *, station_id: StationId) -> list[Alarm]:
        where = (A.station_id == station_id, A.state == str(AlarmState.ACTIVE), A.suppressed.is_(True))
        rows = (await self._c.execute(select(t.alarms).where(*where))).mappings().all()
        if rows:
            await self._c.execute(update(t.alarms).where(*where).values(suppressed=False))
        alarms = [_alarm_from(row) for row in rows]
        for alarm in alarms:
            alarm.suppressed = False
        return alarms

    async def maintenance(self, *, station_id: StationId) -> Maintenance | None:
        statement = select(t.station_maintenance).where(M.station_id == station_id, M.ended_at.is_(None))
        row = (await self._c.execute(statement.order_by(M.id.desc()).limit(1))).mappings().first()
        return None if row is None else _maintenance_from(row)

    async def start_maintenance(self, *, maintenance: Maintenance) -> None:
        await self._c.execute(
            insert(t.station_maintenance).values(
                station_id=maintenance.station_id,
                started_at=maintenance.started_at,
                until=maintenance.until,
                reason=maintenance.reason[:500],
                started_by=maintenance.started_by,
            )
        )

    async def end_maintenance(self, *, station_id: StationId, at: datetime, by: str) -> bool:
        result = await self._c.execute(
            update(t.station_maintenance)
            .where(M.station_id == station_id, M.ended_at.is_(None))
            .values(ended_at=at, ended_by=by)
        )
        return bool(result.rowcount)

    async def maintenances_due(self, *, now: datetime) -> list[Maintenance]:
        rows = await self._c.execute(select(t.station_maintenance).where(M.ended_at.is_(None), M.until <= now))
        return [_maintenance_from(row) for row in rows.mappings()]

    async def consequences(self, *, cause_id: AlarmId) -> list[Alarm]:
        statement = _alarms().where(A.cause_id == cause_id).order_by(A.raised_at, A.id)
        return [_alarm_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def list(self, *, where: AlarmFilter) -> list[Alarm]:
        statement = _alarms()
        if where.standing:
            active = A.state == str(AlarmState.ACTIVE)
            statement = statement.where(or_(active, A.acknowledged_at.is_(None)))
        elif where.state is not None:
            statement = statement.where(A.state == str(where.state))
        if where.unacknowledged:
            statement = statement.where(A.acknowledged_at.is_(None))
        if where.station_id is not None:
            statement = statement.where(A.station_id == where.station_id)
        if where.site_id is not None:
            statement = statement.where(A.site_id == where.site_id)
        if where.source is not None:
            statement = statement.where(A.source == where.source)
        if where.priority is not None:
            statement = statement.where(A.priority == int(where.priority))
        if where.since is not None:
            statement = statement.where(A.raised_at >= where.since)
        if where.until is not None:
            statement = statement.where(A.raised_at < where.until)
        if where.standing or where.state == AlarmState.ACTIVE:  # what needs attention first
            statement = statement.order_by(A.priority, A.raised_at.desc(), A.id.desc())
        else:
            statement = statement.order_by(A.raised_at.desc(), A.id.desc())
        rows = await self._c.execute(statement.limit(where.limit).offset(where.offset))
        return [_alarm_from(row) for row in rows.mappings()]
