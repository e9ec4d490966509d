"""SQL for users and API keys."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.access.users import ApiKey, Role, User
from evscada.storage import tables as t


def _user_from(row: Mapping[str, Any]) -> User:
    return User(id=row["id"], username=row["username"], role=Role(row["role"]), disabled=row["disabled"])


class SqlUsers:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, *, username: str, password_hash: str | None, role: Role) -> User:
        result = await self._c.execute(
            insert(t.users)
            .values(
                username=username, password_hash=password_hash, role=str(role), disabled=False, created_at=func.now()
            )
            .returning(t.users.c.id)
        )
        return User(id=int(result.scalar_one()), username=username, role=role)

    async def by_username(self, *, username: str) -> User | None:
        row = (await self._c.execute(select(t.users).where(t.users.c.username == username))).mappings().first()
        return _user_from(row) if row else None

    async def add_key(self, *, user_id: int, name: str, prefix: str, key_hash: str) -> int:
        result = await self._c.execute(
            insert(t.api_keys)
            .values(user_id=user_id, name=name, prefix=prefix, key_hash=key_hash, created_at=func.now())
            .returning(t.api_keys.c.id)
        )
        return int(result.scalar_one())

    async def by_key_hash(self, *, key_hash: str) -> User | None:
        k = t.api_keys.c
        row = (
            (
                await self._c.execute(
                    select(t.users)
                    .join(t.api_keys, k.user_id == t.users.c.id)
                    .where(k.key_hash == key_hash, k.revoked_at.is_(None))
                )
            )
            .mappings()
            .first()
        )
        return _user_from(row) if row else None

    async def update(
        self, *, user_id: int, role: Role | None = None, disabled: bool | None = None, password_hash: str | None = None
    ) -> None:
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = str(role)
        if disabled is not None:
            values["disabled"] = disabled
        if password_hash is not None:
            values["password_hash"] = password_hash
        if values:
            await self._c.execute(update(t.users).where(t.users.c.id == user_id).values(**values))

    async def enabled_admins(self) -> int:
        c = t.users.c
        result = await self._c.execute(
            select(func.count()).select_from(t.users).where(c.role == str(Role.ADMIN), c.disabled.is_(False))
        )
        return int(result.scalar_one())

    async def keys(self, *, user_id: int) -> list[ApiKey]:
        c = t.api_keys.c
        rows = await self._c.execute(select(t.api_keys).where(c.user_id == user_id).order_by(c.id))
        return [_key_from(row) for row in rows.mappings()]

    async def key(self, *, key_id: int) -> ApiKey | None:
        row = (await self._c.execute(select(t.api_keys).where(t.api_keys.c.id == key_id))).mappings().first()
        return _key_from(row) if row else None

    async def revoke_key(self, *, key_id: int, at: datetime) -> None:
        await self._c.execute(update(t.api_keys).where(t.api_keys.c.id == key_id).values(revoked_at=at))

    async def list(self) -> list[User]:  # last: after it, `list` in this class body means the method
        rows = await self._c.execute(select(t.users).order_by(t.users.c.username))
        return [_user_from(row) for row in rows.mappings()]


def _key_from(row: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
