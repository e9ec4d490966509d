"""SQL for the command log: who sent which command when, and what the station answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.control.commands import CommandLogEntry, CommandOutcome, CommandOutcomeKind, RemoteStart
from evscada.core.model import StationId
from evscada.storage import tables as t

# Built once: asked on every start a station reports without a remote start id (docs/performance.md).
_tx = t.transactions.c
_claimed_starts = select(_tx.remote_start_command_id).where(
    _tx.remote_start_command_id.is_not(None), _tx.station_id == bindparam("p_station_id")
)
_log = t.command_log.c
# Not answered yet (outcome NULL) counts: a station may start before its answer is stored, even before it answers.
_OPEN_REMOTE_STARTS = (
    select(_log.id, _log.arguments)
    .where(
        _log.station_id == bindparam("p_station_id"),
        _log.command == RemoteStart.name,
        or_(_log.outcome.is_(None), _log.status == "Accepted"),
        _log.requested_at >= bindparam("p_since"),
        _log.id.not_in(_claimed_starts),
    )
    .order_by(_log.id)
)
_RELEASE_CLAIM = (
    update(t.transactions)
    .where(_tx.station_id == bindparam("p_station_id"), _tx.remote_start_command_id == bindparam("p_command_id"))
    .values(remote_start_command_id=None)
)


class SqlCommandLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, entry: CommandLogEntry) -> int:
        result = await self._c.execute(
            insert(t.command_log)
            .values(
                station_id=entry.station_id,
                command=entry.command,
                arguments=entry.arguments,
                actor=entry.actor,
                reason=entry.reason,
                requested_at=entry.requested_at,
            )
            .returning(t.command_log.c.id)
        )
        return int(result.scalar_one())

    async def open_remote_starts(self, *, station_id: StationId, since: datetime) -> list[tuple[int, dict[str, Any]]]:
        rows = await self._c.execute(_OPEN_REMOTE_STARTS, {"p_station_id": station_id, "p_since": since})
        return [(int(row.id), dict(row.arguments)) for row in rows]

    async def finish(self, *, outcome: CommandOutcome) -> None:
        await self._c.execute(
            update(t.command_log)
            .where(t.command_log.c.id == outcome.command_id)
            .values(
                finished_at=outcome.finished_at,
                outcome=str(outcome.outcome),
                status=outcome.status,
                response=outcome.data or None,
                error=(outcome.error or "")[:500] or None,
            )
        )
        accepted = outcome.outcome == CommandOutcomeKind.ANSWERED and outcome.status == "Accepted"
        if outcome.command == RemoteStart.name and not accepted:
            # A start that came while the command was open took it for its cause; the station said otherwise.
            claim = {"p_station_id": outcome.station_id, "p_command_id": outcome.command_id}
            await self._c.execute(_RELEASE_CLAIM, claim)
