"""SQL for a site's feeders: a few rows per site, read and written by operators and by load management."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.energy.grid import Limit
from evscada.core.energy.layout import Feeder, period_json, period_of
from evscada.core.model import SiteId, StationId
from evscada.storage import tables as t

_f = t.site_feeders.c


def _feeder_from(row: RowMapping) -> Feeder:
    curve = json.loads(row["limit_curve"]) if row["limit_curve"] else []
    return Feeder(
        id=row["id"],
        site_id=SiteId(row["site_id"]),
        name=row["name"],
        parent_id=row["parent_id"],
        limit=Limit(amps=row["max_a"], watts=row["max_w"]),
        curve=tuple(period_of(p) for p in curve),
    )


def _values(feeder: Feeder) -> dict[str, Any]:
    return {
        "site_id": feeder.site_id,
        "parent_id": feeder.parent_id,
        "name": feeder.name,
        "max_a": feeder.limit.amps,
        "max_w": feeder.limit.watts,
        "limit_curve": json.dumps([period_json(p) for p in feeder.curve]) if feeder.curve else None,
    }


class SqlFeeders:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, feeder: Feeder) -> Feeder:
        result = await self._c.execute(insert(t.site_feeders).values(**_values(feeder)).returning(_f.id))
        return replace(feeder, id=result.scalar_one())

    async def get(self, *, feeder_id: int) -> Feeder | None:
        row = (await self._c.execute(select(t.site_feeders).where(_f.id == feeder_id))).mappings().first()
        return None if row is None else _feeder_from(row)

    async def of_site(self, *, site_id: SiteId) -> list[Feeder]:
        rows = await self._c.execute(select(t.site_feeders).where(_f.site_id == site_id).order_by(_f.id))
        return [_feeder_from(row) for row in rows.mappings()]

    async def all(self) -> list[Feeder]:
        rows = await self._c.execute(select(t.site_feeders).order_by(_f.site_id, _f.id))
        return [_feeder_from(row) for row in rows.mappings()]

    async def save(self, *, feeder: Feeder) -> None:
        await self._c.execute(update(t.site_feeders).where(_f.id == feeder.id).values(**_values(feeder)))

    async def delete(self, *, feeder_id: int) -> bool:
        result = await self._c.execute(t.site_feeders.delete().where(_f.id == feeder_id))
        return bool(result.rowcount)

    async def stations_on(self, *, feeder_id: int) -> list[StationId]:
        c = t.stations.c
        rows = await self._c.execute(select(c.id).where(c.feeder_id == feeder_id).order_by(c.id))
        return [StationId(sid) for sid in rows.scalars()]
