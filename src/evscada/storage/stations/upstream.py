"""SQL for the OCPP proxy: upstream CSMS per station or site, the messages upstream has not had yet, and the OCPP
1.6 transaction id map (evscada's id -> upstream's)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import StationId
from evscada.core.upstream.service import BufferedMessage, HeldMessage, Scope, UpstreamCsms, UpstreamMode
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
        ca_file=row["ca_file"],
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

    async def all(self) -> list[UpstreamCsms]:
        c = t.upstream_csms.c
        rows = await self._c.execute(select(t.upstream_csms).order_by(c.scope, c.target))
        return [_config(row) for row in rows.mappings()]

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
                ca_file=config.ca_file,
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

    async def buffer_many(self, *, messages: Sequence[HeldMessage]) -> list[int]:
        rows = [
            {"station_id": m.station_id, "action": m.action, "frame": m.frame, "answer": m.answer, "queued_at": m.at}
            for m in messages
        ]
        statement = insert(t.upstream_buffer).returning(t.upstream_buffer.c.id, sort_by_parameter_order=True)
        result = await self._c.execute(statement, rows)
        return [int(row_id) for row_id in result.scalars()]

    async def put_password(self, *, scope: Scope, target: str, password: str | None) -> None:
        c = t.upstream_csms.c
        await self._c.execute(
            update(t.upstream_csms).where(c.scope == scope.value, c.target == target).values(password=password)
        )

    async def replace_password(self, *, scope: Scope, target: str, old: str, new: str) -> bool:
        c = t.upstream_csms.c
        result = await self._c.execute(
            update(t.upstream_csms)
            .where(c.scope == scope.value, c.target == target, c.password == old)
            .values(password=new)
        )
        return bool(result.rowcount)

    async def map_transaction(self, *, station_id: StationId, ours: int, theirs: int, at: datetime) -> None:
        await self.unmap_transaction(station_id=station_id, ours=ours)
        await self._c.execute(
            insert(t.upstream_transactions).values(station_id=station_id, ours=ours, theirs=theirs, mapped_at=at)
        )

    async def transaction_map(self, *, station_id: StationId) -> dict[int, int]:
        c = t.upstream_transactions.c
        rows = await self._c.execute(select(c.ours, c.theirs).where(c.station_id == station_id))
        return {int(ours): int(theirs) for ours, theirs in rows}

    async def unmap_transaction(self, *, station_id: StationId, ours: int) -> None:
        c = t.upstream_transactions.c
        await self._c.execute(delete(t.upstream_transactions).where(c.station_id == station_id, c.ours == ours))

    async def buffered(self, *, station_id: StationId, limit: int, after: int = 0) -> list[BufferedMessage]:
        c = t.upstream_buffer.c
        rows = await self._c.execute(
            select(t.upstream_buffer).where(c.station_id == station_id, c.id > after).order_by(c.id).limit(limit)
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

    async def discard_buffered(self, *, station_ids: Sequence[StationId]) -> int:
        c = t.upstream_buffer.c
        result = await self._c.execute(delete(t.upstream_buffer).where(c.station_id.in_(list(station_ids))))
        return int(result.rowcount or 0)

    async def unbuffer(self, *, ids: Sequence[int]) -> None:
        if ids:
            await self._c.execute(delete(t.upstream_buffer).where(t.upstream_buffer.c.id.in_(list(ids))))
