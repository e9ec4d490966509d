"""SQL for message logging: which stations log their frames, and the frames."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import StationId
from evscada.core.stations.frame_log import FrameLogging, LoggedFrame
from evscada.storage import tables as t


class SqlFrameLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def switch(self, *, station_id: StationId, on: FrameLogging | None) -> None:
        await self._c.execute(delete(t.frame_logging).where(t.frame_logging.c.station_id == station_id))
        if on is not None:
            await self._c.execute(insert(t.frame_logging).values(station_id=station_id, since=on.since, actor=on.actor))

    async def switched_on(self) -> list[FrameLogging]:
        rows = await self._c.execute(select(t.frame_logging))
        return [FrameLogging(StationId(r["station_id"]), r["since"], r["actor"]) for r in rows.mappings()]

    async def add(self, *, frames: Sequence[LoggedFrame]) -> None:
        await self._c.execute(
            insert(t.frame_log),
            [{"station_id": f.station_id, "at": f.at, "direction": f.direction, "frame": f.frame} for f in frames],
        )

    async def recent(self, *, station_id: StationId, limit: int) -> list[LoggedFrame]:
        c = t.frame_log.c
        rows = await self._c.execute(
            select(t.frame_log).where(c.station_id == station_id).order_by(c.id.desc()).limit(limit)
        )
        return [LoggedFrame(StationId(r["station_id"]), r["at"], r["direction"], r["frame"]) for r in rows.mappings()]
