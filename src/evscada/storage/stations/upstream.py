"""SQL for the OCPP proxy: upstream CSMS per station or site, and the messages held while upstream is away."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import StationId
from evscada.core.upstream.service import BufferedMessage, Scope, UpstreamCsms, UpstreamMode
from evscada.storage import tables as t


def _config(row: Any) -> UpstreamCsms:
    return UpstreamCsms(
        scope=Scope(row["scope"]),
        target=row["target"],
        url=row["url"],
        mode=UpstreamMode(row["mode"]),
        station_id=row["upstream_station_id"],
        security_profile=row["security_profile"],
        password=row["password"],
        client_cert_file=row["client_cert_file"],
        client_key_file=row["client_key_file"],
        allowed_actions=tuple(row["allowed_actions"] or ()),
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


class SqlUpstream:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, *, scope: Scope, target: str) -> UpstreamCsms | None:
        c = t.upstream_csms.c
        rows = await self._c.execute(select(t.upstream_csms).where(c.scope == scope.value, c.target == target))
        row = rows.mappings().first()
        return None if row is None else _config(row)

    async def put(self, *, config: UpstreamCsms) -> None:
        await self.delete(scope=config.scope, target=config.target)
        await self._c.execute(
            insert(t.upstream_csms).values(
                scope=config.scope.value,
                target=config.target,
                url=config.url,
                mode=config.mode.value,
                upstream_station_id=config.station_id,
                security_profile=config.security_profile,
                password=config.password,
                client_cert_file=config.client_cert_file,
                client_key_file=config.client_key_file,
                allowed_actions=list(config.allowed_actions),
                updated_at=config.updated_at,
                updated_by=config.updated_by,
            )
        )

    async def delete(self, *, scope: Scope, target: str) -> bool:
        c = t.upstream_csms.c
        result = await self._c.execute(delete(t.upstream_csms).where(c.scope == scope.value, c.target == target))
        return bool(result.rowcount)

    async def buffer(self, *, station_id: StationId, action: str, frame: str, answer: str, at: datetime) -> None:
        await self._c.execute(
            insert(t.upstream_buffer).values(
                station_id=station_id, action=action, frame=frame, answer=answer, queued_at=at
            )
        )

    async def buffered(self, *, station_id: StationId, limit: int) -> list[BufferedMessage]:
        c = t.upstream_buffer.c
        rows = await self._c.execute(
            select(t.upstream_buffer).where(c.station_id == station_id).order_by(c.id).limit(limit)
        )
        return [
            BufferedMessage(r["id"], StationId(r["station_id"]), r["action"], r["frame"], r["answer"])
            for r in rows.mappings()
        ]

    async def buffered_count(self, *, station_id: StationId) -> int:
        c = t.upstream_buffer.c
        count = await self._c.scalar(
            select(func.count()).select_from(t.upstream_buffer).where(c.station_id == station_id)
        )
        return int(count or 0)

    async def unbuffer(self, *, ids: Sequence[int]) -> None:
        if ids:
            await self._c.execute(delete(t.upstream_buffer).where(t.upstream_buffer.c.id.in_(list(ids))))
