"""SQL for what 2.0.1 stations report: the profiles they hold, outside charging limits, vehicles' charging needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import RowMapping, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.energy.reports import ChargingLimit, EvChargingNeeds, ReportedProfile
from evscada.core.model import StationId
from evscada.storage import tables as t
from evscada.storage.energy.codec import profile_json, profile_of, schedule_json, schedule_of

_rp = t.reported_charging_profiles.c
_cl = t.charging_limits.c
_ev = t.ev_charging_needs.c
_NEEDS = (
    "evse_id",
    "transfer_mode",
    "departure_time",
    "energy_amount_wh",
    "ev_min_current_a",
    "ev_max_current_a",
    "ev_max_voltage_v",
    "ev_max_power_w",
    "state_of_charge",
    "ev_energy_capacity_wh",
    "full_soc",
    "bulk_soc",
    "max_schedule_tuples",
)


def _limit_from(row: RowMapping) -> ChargingLimit:
    return ChargingLimit(
        id=int(row["id"]),
        source=row["source"],
        evse_id=row["evse_id"],
        grid_critical=row["grid_critical"],
        schedules=tuple(schedule_of(s) for s in row["schedules"]),
        reported_at=row["reported_at"],
        ended_at=row["ended_at"],
        end_reason=row["end_reason"],
    )


class SqlChargingReports:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add_reported(self, *, station_id: StationId, profiles: Sequence[ReportedProfile]) -> None:
        if not profiles:
            return
        request_id = profiles[0].request_id
        await self._c.execute(
            delete(t.reported_charging_profiles).where(_rp.station_id == station_id, _rp.request_id != request_id)
        )
        await self._c.execute(
            insert(t.reported_charging_profiles),
            [
                {
                    "station_id": station_id,
                    "request_id": p.request_id,
                    "evse_id": p.evse_id,
                    "source": p.source,
                    "profile": profile_json(p.profile),
                    "reported_at": p.reported_at,
                }
                for p in profiles
            ],
        )

    async def reported(self, *, station_id: StationId) -> list[ReportedProfile]:
        statement = select(t.reported_charging_profiles).where(_rp.station_id == station_id).order_by(_rp.id)
        return [
            ReportedProfile(
                request_id=row["request_id"],
                evse_id=row["evse_id"],
                source=row["source"],
                profile=profile_of(row["profile"]),
                reported_at=row["reported_at"],
            )
            for row in (await self._c.execute(statement)).mappings()
        ]

    async def add_limit(self, *, station_id: StationId, limit: ChargingLimit, at: datetime) -> None:
        same_evse = _cl.evse_id.is_(None) if limit.evse_id is None else _cl.evse_id == limit.evse_id
        await self._c.execute(
            update(t.charging_limits)
            .where(_cl.station_id == station_id, _cl.source == limit.source, same_evse, _cl.ended_at.is_(None))
            .values(ended_at=at, end_reason="replaced")
        )
        await self._c.execute(
            insert(t.charging_limits).values(
                station_id=station_id,
                evse_id=limit.evse_id,
                source=limit.source,
                grid_critical=limit.grid_critical,
                schedules=[schedule_json(s) for s in limit.schedules],
                reported_at=at,
            )
        )

    async def clear_limits(self, *, station_id: StationId, source: str, evse_id: int | None, at: datetime) -> int:
        statement = update(t.charging_limits).where(
            _cl.station_id == station_id, _cl.source == source, _cl.ended_at.is_(None)
        )
        if evse_id is not None:
            statement = statement.where(_cl.evse_id == evse_id)
        result = await self._c.execute(statement.values(ended_at=at, end_reason="cleared"))
        return int(result.rowcount)

    async def limits(self, *, station_id: StationId, active: bool | None, limit: int) -> list[ChargingLimit]:
        statement = select(t.charging_limits).where(_cl.station_id == station_id).order_by(_cl.id.desc()).limit(limit)
        if active is not None:
            statement = statement.where(_cl.ended_at.is_(None) if active else _cl.ended_at.is_not(None))
        return [_limit_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def add_needs(self, *, station_id: StationId, needs: EvChargingNeeds, at: datetime) -> None:
        values = {name: getattr(needs, name) for name in _NEEDS}
        await self._c.execute(insert(t.ev_charging_needs).values(station_id=station_id, reported_at=at, **values))

    async def needs(self, *, station_id: StationId, evse_id: int | None, limit: int) -> list[EvChargingNeeds]:
        statement = select(t.ev_charging_needs).where(_ev.station_id == station_id).order_by(_ev.id.desc()).limit(limit)
        if evse_id is not None:
            statement = statement.where(_ev.evse_id == evse_id)
        return [
            EvChargingNeeds(id=int(row["id"]), reported_at=row["reported_at"], **{n: row[n] for n in _NEEDS})
            for row in (await self._c.execute(statement)).mappings()
        ]
