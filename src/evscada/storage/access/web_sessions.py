"""SQL for the web console's browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.access.users import Role, User, WebSession
from evscada.storage import tables as t


class SqlWebSessions:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def credentials(self, *, username: str) -> tuple[User, str | None] | None:
        u = t.users.c
        row = (await self._c.execute(select(t.users).where(u.username == username))).mappings().first()
        if row is None:
            return None
        user = User(id=row["id"], username=row["username"], role=Role(row["role"]), disabled=row["disabled"])
        return user, row["password_hash"]

    async def add(self, *, session: WebSession) -> None:
        await self._c.execute(
            insert(t.web_sessions).values(
                token_hash=session.token_hash,
                user_id=session.user_id,
                created_at=session.created_at,
                last_used_at=session.last_used_at,
                expires_at=session.expires_at,
            )
        )

    async def get(self, *, token_hash: str) -> tuple[WebSession, User] | None:
        s, u = t.web_sessions.c, t.users.c
        row = (
            (
                await self._c.execute(
                    select(t.web_sessions, u.username, u.role, u.disabled)
                    .join(t.users, u.id == s.user_id)
                    .where(s.token_hash == token_hash)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        session = WebSession(
            token_hash=row["token_hash"],
            user_id=row["user_id"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            expires_at=row["expires_at"],
        )
        user = User(id=row["user_id"], username=row["username"], role=Role(row["role"]), disabled=row["disabled"])
        return session, user

    async def touch(self, *, token_hash: str, at: datetime) -> None:
        s = t.web_sessions.c
        await self._c.execute(update(t.web_sessions).where(s.token_hash == token_hash).values(last_used_at=at))

    async def delete(self, *, token_hash: str) -> None:
        await self._c.execute(delete(t.web_sessions).where(t.web_sessions.c.token_hash == token_hash))

    async def delete_expired(self, *, before: datetime) -> int:
        result = await self._c.execute(delete(t.web_sessions).where(t.web_sessions.c.expires_at <= before))
        return int(result.rowcount or 0)

    async def delete_of_user(self, *, user_id: int, keep_token_hash: str | None = None) -> int:
        s = t.web_sessions.c
        where = [s.user_id == user_id]
        if keep_token_hash is not None:
            where.append(s.token_hash != keep_token_hash)
        result = await self._c.execute(delete(t.web_sessions).where(*where))
        return int(result.rowcount or 0)
