"""SQL for local authorization lists: what each station was sent, what it reports, and the tokens to send."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.charging.local_lists import LocalListState
from evscada.core.control.commands import LocalListEntry
from evscada.core.model import StationId, Token
from evscada.storage import tables as t
from evscada.storage.charging.tokens import token_from


class SqlLocalLists:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def state(self, *, station_id: StationId) -> LocalListState | None:
        row = (
            (await self._c.execute(select(t.local_lists).where(t.local_lists.c.station_id == station_id)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        e = t.local_list_entries.c
        count = (
            await self._c.execute(
                select(func.count()).select_from(t.local_list_entries).where(e.station_id == station_id)
            )
        ).scalar_one()
        return LocalListState(
            station_id=StationId(row["station_id"]),
            version=row["version"],
            attempted_version=row["attempted_version"],
            update=row["update_type"],
            group_id=row["group_id"],
            sent_at=row["sent_at"],
            command_id=row["command_id"],
            entries=int(count),
            reported_version=row["reported_version"],
            reported_at=row["reported_at"],
        )

    async def entries(self, *, station_id: StationId) -> list[LocalListEntry]:
        e = t.local_list_entries.c
        rows = await self._c.execute(select(t.local_list_entries).where(e.station_id == station_id).order_by(e.token))
        return [
            LocalListEntry(
                value=row["token"],
                type=row["type"],
                status=row["status"],
                expires_at=row["expires_at"],
                group_id=row["group_id"],
            )
            for row in rows.mappings()
        ]

    async def tokens(self, *, group_id: str | None) -> list[Token]:
        statement = select(t.tokens).order_by(t.tokens.c.value)
        if group_id is not None:
            statement = statement.where(t.tokens.c.group_id == group_id)
        return [token_from(row) for row in (await self._c.execute(statement)).mappings()]

    async def attempt(self, *, station_id: StationId, version: int) -> None:
        c = t.local_lists.c
        result = await self._c.execute(
            update(t.local_lists).where(c.station_id == station_id).values(attempted_version=version)
        )
        if result.rowcount == 0:
            await self._c.execute(
                insert(t.local_lists).values(station_id=station_id, version=0, attempted_version=version)
            )

    async def record_sent(
        self,
        *,
        station_id: StationId,
        version: int,
        full: bool,
        group_id: str | None,
        entries: Sequence[LocalListEntry],
        command_id: int,
        at: datetime,
    ) -> None:
        e = t.local_list_entries.c
        if full:
            await self._c.execute(delete(t.local_list_entries).where(e.station_id == station_id))
        else:
            values = [entry.value for entry in entries]
            for start in range(0, len(values), 500):  # bounded IN lists
                await self._c.execute(
                    delete(t.local_list_entries).where(
                        e.station_id == station_id, e.token.in_(values[start : start + 500])
                    )
                )
        rows = [
            {
                "station_id": station_id,
                "token": entry.value,
                "type": entry.type,
                "status": entry.status,
                "expires_at": entry.expires_at,
                "group_id": entry.group_id,
            }
            for entry in entries
            if entry.status is not None
        ]
        if rows:
            await self._c.execute(insert(t.local_list_entries), rows)
        await self._c.execute(
            update(t.local_lists)
            .where(t.local_lists.c.station_id == station_id)
            .values(
                version=version,
                update_type="full" if full else "differential",
                group_id=group_id,
                sent_at=at,
                command_id=command_id,
            )
        )

    async def record_reported(self, *, station_id: StationId, version: int, at: datetime) -> None:
        c = t.local_lists.c
        result = await self._c.execute(
            update(t.local_lists).where(c.station_id == station_id).values(reported_version=version, reported_at=at)
        )
        if result.rowcount == 0:
            await self._c.execute(
                insert(t.local_lists).values(
                    station_id=station_id, version=0, attempted_version=0, reported_version=version, reported_at=at
                )
            )
