"""SQL for the audit log: one insert per change, and the admins' filtered reading of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.access.audit import AuditEntry, AuditFilter
from evscada.storage import tables as t

_INSERT = insert(t.audit_log)  # built once: executed with one row, or many (executemany)


def _row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "actor": entry.actor[:255],
        "action": entry.action[:64],
        "target_type": entry.target_type[:32],
        "target_id": entry.target_id[:255],
        "details": entry.details,
    }


class SqlAudit:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, entry: AuditEntry) -> None:
        await self._c.execute(_INSERT, _row(entry))

    async def add_many(self, *, entries: Sequence[AuditEntry]) -> None:
        if entries:
            await self._c.execute(_INSERT, [_row(e) for e in entries])

    async def list(self, *, where: AuditFilter) -> list[AuditEntry]:
        c = t.audit_log.c
        statement = select(t.audit_log)
        if where.actor is not None:
            statement = statement.where(c.actor == where.actor)
        if where.action is not None:
            # "token" matches token.*; "token.block" matches itself only.
            statement = statement.where(
                (c.action == where.action) | c.action.startswith(where.action.rstrip(".") + ".", autoescape=True)
            )
        if where.target_type is not None:
            statement = statement.where(c.target_type == where.target_type)
        if where.target_id is not None:
            statement = statement.where(c.target_id == where.target_id)
        if where.text:
            statement = statement.where(
                or_(*(column.icontains(where.text, autoescape=True) for column in (c.actor, c.action, c.target_id)))
            )
        if where.since is not None:
            statement = statement.where(c.at >= where.since)
        if where.until is not None:
            statement = statement.where(c.at < where.until)
        statement = statement.order_by(c.id.desc()).limit(where.limit).offset(where.offset)
        return [
            AuditEntry(
                id=row["id"],
                at=row["at"],
                actor=row["actor"],
                action=row["action"],
                target_type=row["target_type"],
                target_id=row["target_id"],
                details=row["details"],
            )
            for row in (await self._c.execute(statement)).mappings()
        ]
