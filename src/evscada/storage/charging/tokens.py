"""SQL for authorization tokens, read on every Authorize and transaction start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.model import AuthorizationStatus, Token
from evscada.storage import tables as t

# Built once: the gateway's hot path (docs/performance.md).
_GET_TOKEN = select(t.tokens).where(t.tokens.c.value == bindparam("p_value"))


def token_from(row: Mapping[str, Any]) -> Token:
    return Token(
        value=row["value"],
        type=row["type"],
        status=AuthorizationStatus(row["status"]),
        expires_at=row["expires_at"],
        group_id=row["group_id"],
        vehicle_id=row["vehicle_id"],
        priority=row["priority"],
    )


def _matching(statement: Select[Any], search: str | None) -> Select[Any]:
    """Tokens whose value, or whose vehicle's name, contains `search` (any case): a search box, not a pattern."""
    if not search:
        return statement
    named = select(t.vehicles.c.id).where(t.vehicles.c.name.icontains(search, autoescape=True))
    return statement.where(t.tokens.c.value.icontains(search, autoescape=True) | t.tokens.c.vehicle_id.in_(named))


class SqlTokens:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, *, value: str) -> Token | None:
        row = (await self._c.execute(_GET_TOKEN, {"p_value": value})).mappings().first()
        return None if row is None else token_from(row)

    async def list(self, *, limit: int, offset: int, search: str | None = None) -> list[Token]:
        statement = _matching(select(t.tokens), search).order_by(t.tokens.c.value).limit(limit).offset(offset)
        rows = await self._c.execute(statement)
        return [token_from(row) for row in rows.mappings()]

    async def count(self, *, search: str | None = None) -> int:
        return int((await self._c.execute(_matching(select(func.count()).select_from(t.tokens), search))).scalar_one())

    async def priorities(self) -> dict[str, int]:
        rows = await self._c.execute(
            select(t.tokens.c.value, t.tokens.c.priority).where(t.tokens.c.priority.is_not(None))
        )
        return {value: priority for value, priority in rows}

    async def delete(self, *, value: str) -> bool:
        result = await self._c.execute(t.tokens.delete().where(t.tokens.c.value == value))
        return bool(result.rowcount)

    async def upsert(self, *, token: Token) -> None:
        values = {
            "type": token.type,
            "status": str(token.status),
            "expires_at": token.expires_at,
            "group_id": token.group_id,
            "vehicle_id": token.vehicle_id,
            "priority": token.priority,
            "updated_at": func.now(),
        }
        result = await self._c.execute(update(t.tokens).where(t.tokens.c.value == token.value).values(**values))
        if result.rowcount == 0:
            await self._c.execute(insert(t.tokens).values(value=token.value, created_at=func.now(), **values))
