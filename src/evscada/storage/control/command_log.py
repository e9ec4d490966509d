"""SQL for the command log: who sent which command when, and what the station answered."""

from __future__ import annotations

from collections.abc import Sequence
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
# Built once: a batch of commands is logged with one INSERT and finished with one UPDATE (executemany).
_ADD = insert(t.command_log).returning(_log.id, sort_by_parameter_order=True)
_FINISH = (
    update(t.command_log)
    .where(_log.id == bindparam("p_id"))
    .values(
        finished_at=bindparam("p_finished_at"),
        outcome=bindparam("p_outcome"),
        status=bindparam("p_status"),
        response=bindparam("p_response", type_=_log.response.type),
        error=bindparam("p_error"),
    )
)


def _entry_row(entry: CommandLogEntry) -> dict[str, Any]:
    return {
        "station_id": entry.station_id,
        "command": entry.command,
        "arguments": entry.arguments,
        "actor": entry.actor,
        "reason": entry.reason,
        "requested_at": entry.requested_at,
    }


def _finish_row(outcome: CommandOutcome) -> dict[str, Any]:
    return {
        "p_id": outcome.command_id,
        "p_finished_at": outcome.finished_at,
        "p_outcome": str(outcome.outcome),
        "p_status": outcome.status,
        "p_response": outcome.data or None,
        "p_error": (outcome.error or "")[:500] or None,
    }


class SqlCommandLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, entry: CommandLogEntry) -> int:
        return (await self.add_many(entries=[entry]))[0]

    async def add_many(self, *, entries: Sequence[CommandLogEntry]) -> list[int]:
        if not entries:
            return []
        result = await self._c.execute(_ADD, [_entry_row(e) for e in entries])
        return [int(i) for i in result.scalars()]

    async def open_remote_starts(self, *, station_id: StationId, since: datetime) -> list[tuple[int, dict[str, Any]]]:
        rows = await self._c.execute(_OPEN_REMOTE_STARTS, {"p_station_id": station_id, "p_since": since})
        return [(int(row.id), dict(row.arguments)) for row in rows]

    async def finish(self, *, outcome: CommandOutcome) -> None:
        await self.finish_many(outcomes=[outcome])

    async def finish_many(self, *, outcomes: Sequence[CommandOutcome]) -> None:
        if not outcomes:
            return
        await self._c.execute(_FINISH, [_finish_row(o) for o in outcomes])
        # A start that came while the command was open took it for its cause; the station said otherwise.
        claims = [
            {"p_station_id": o.station_id, "p_command_id": o.command_id}
            for o in outcomes
            if o.command == RemoteStart.name
            and not (o.outcome == CommandOutcomeKind.ANSWERED and o.status == "Accepted")
        ]
        if claims:
            await self._c.execute(_RELEASE_CLAIM, claims)
