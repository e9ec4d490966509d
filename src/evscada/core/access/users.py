"""Who may do what: users with roles, and API keys for machines."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from evscada.core.access.audit import SYSTEM, Auditor, AuditRepository
from evscada.core.errors import LastAdmin, UnknownApiKey, UnknownUser, UserExists
from evscada.core.ports import Clock, PasswordHasher, Store

KEY_PREFIX = "evs_"


class Role(enum.StrEnum):
    VIEWER = "viewer"  # reads
    OPERATOR = "operator"  # reads and commands stations
    ADMIN = "admin"  # everything: users, settings

    def allows(self, needed: Role) -> bool:
        order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What is kept of a key: never the key itself."""

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


class UserRepository(Protocol):
    async def add(self, *, username: str, password_hash: str | None, role: Role) -> User: ...

    async def by_username(self, *, username: str) -> User | None: ...

    async def add_key(self, *, user_id: int, name: str, prefix: str, key_hash: str) -> int:
        """Store a key's hash; returns its id."""
        ...

    async def by_key_hash(self, *, key_hash: str) -> User | None: ...

    async def update(
        self, *, user_id: int, role: Role | None = None, disabled: bool | None = None, password_hash: str | None = None
    ) -> None: ...

    async def enabled_admins(self) -> int: ...

    async def keys(self, *, user_id: int) -> list[ApiKey]: ...

    async def key(self, *, key_id: int) -> ApiKey | None: ...

    async def revoke_key(self, *, key_id: int, at: datetime) -> None: ...

    async def list(self) -> list[User]: ...


class UserUnit(Protocol):
    users: UserRepository
    audit: AuditRepository
    web_sessions: WebSessionRepository


def hash_key(key: str) -> str:
    # API keys are 256-bit random secrets: a fast hash is enough (no guessing to slow down), so a request
    # costs one indexed lookup, not an argon2 round.
    return hashlib.sha256(key.encode()).hexdigest()


class AccessService:
    def __init__(
        self, *, store: Store[UserUnit], clock: Clock, hasher: PasswordHasher, audit: Auditor | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._audit = audit or Auditor(clock=clock)

    async def add_user(self, *, username: str, role: Role, password: str | None = None, actor: str = SYSTEM) -> User:
        password_hash = await self._hasher.hash(password) if password else None
        async with self._store.unit() as uow:
            if await uow.users.by_username(username=username) is not None:
                raise UserExists(f"user {username} already exists")
            user = await uow.users.add(username=username, password_hash=password_hash, role=role)
            details = {"role": str(role), "password_set": password_hash is not None}
            await self._audit.record(
                uow, actor=actor, action="user.create", target_type="user", target_id=username, details=details
            )
        return user

    async def create_api_key(self, *, username: str, name: str, actor: str = SYSTEM) -> str:
        """A new key for the user; returned once, only its hash is kept."""
        return (await self.issue_api_key(username=username, name=name, actor=actor))[1]

    async def authenticate_key(self, key: str) -> User | None:
        if not key.startswith(KEY_PREFIX):
            return None
        async with self._store.unit() as uow:
            user = await uow.users.by_key_hash(key_hash=hash_key(key))
        return None if user is None or user.disabled else user

    async def issue_api_key(self, *, username: str, name: str, actor: str = SYSTEM) -> tuple[ApiKey, str]:
        """A new key and what is kept of it; the key itself is returned this once."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        async with self._store.unit() as uow:
            user = await self._user(uow, username)
            key_id = await uow.users.add_key(user_id=user.id, name=name, prefix=key[:12], key_hash=hash_key(key))
            stored = await uow.users.key(key_id=key_id)
            assert stored is not None
            await self._audit.record(
                uow,
                actor=actor,
                action="api_key.create",
                target_type="api_key",
                target_id=stored.id,
                details={"user": username, "name": name, "prefix": stored.prefix},
            )
        return stored, key

    async def users(self) -> list[User]:
        async with self._store.unit() as uow:
            return await uow.users.list()

    async def user(self, *, username: str) -> User:
        async with self._store.unit() as uow:
            return await self._user(uow, username)

    async def change_user(
        self,
        *,
        username: str,
        actor: str,
        role: Role | None = None,
        disabled: bool | None = None,
        password: str | None = None,
        keep_session: str | None = None,
    ) -> User:
        """Change a user's role, disable or enable them, or set a new password; the last admin stays an admin.

        A new password, role or disabling ends the user's browser sessions: whoever was logged in logs in again
        under the new terms. `keep_session` (the session token of a user changing only their own password) stays.
        """
        password_hash = await self._hasher.hash(password) if password else None
        async with self._store.unit() as uow:
            user = await self._user(uow, username)
            loses_admin = (
                user.role == Role.ADMIN and not user.disabled and ((role not in (None, Role.ADMIN)) or disabled)
            )
            if loses_admin and await uow.users.enabled_admins() <= 1:
                raise LastAdmin(f"{username} is the last enabled admin; make another admin first")
            await uow.users.update(user_id=user.id, role=role, disabled=disabled, password_hash=password_hash)
            changes: list[tuple[str, dict[str, object]]] = []
            if role is not None and role != user.role:
                changes.append(("user.role", {"from": str(user.role), "to": str(role)}))
            if disabled is not None and disabled != user.disabled:
                changes.append(("user.disable" if disabled else "user.enable", {}))
            if password_hash is not None:
                changes.append(("user.password", {}))  # that it changed; never the password
            for action, details in changes:
                await self._audit.record(
                    uow, actor=actor, action=action, target_type="user", target_id=username, details=details
                )
            new_terms = (role is not None and role != user.role) or (bool(disabled) and not user.disabled)
            if new_terms or password_hash is not None:
                keep = hash_key(keep_session) if keep_session and not new_terms else None
                await uow.web_sessions.delete_of_user(user_id=user.id, keep_token_hash=keep)
            return await self._user(uow, username)

    async def keys(self, *, username: str) -> list[ApiKey]:
        async with self._store.unit() as uow:
            user = await self._user(uow, username)
            return await uow.users.keys(user_id=user.id)

    async def revoke_key(self, *, username: str, key_id: int, actor: str) -> ApiKey:
        """From now on the key is refused (401); it stays listed, with the time it was revoked."""
        async with self._store.unit() as uow:
            user = await self._user(uow, username)
            key = await uow.users.key(key_id=key_id)
            if key is None or key.user_id != user.id:
                raise UnknownApiKey(f"{username} has no API key {key_id}")
            if key.revoked_at is None:
                await uow.users.revoke_key(key_id=key_id, at=self._clock.now())
                await self._audit.record(
                    uow,
                    actor=actor,
                    action="api_key.revoke",
                    target_type="api_key",
                    target_id=key_id,
                    details={"user": username, "name": key.name, "prefix": key.prefix},
                )
            revoked = await uow.users.key(key_id=key_id)
        assert revoked is not None
        return revoked

    async def _user(self, uow: UserUnit, username: str) -> User:
        user = await uow.users.by_username(username=username)
        if user is None:
            raise UnknownUser(f"no user {username}; create it with `evscada user add`")
        return user


# Web console log-in (logins.py): a browser session is a random token in a cookie; only its hash is stored.


@dataclass(frozen=True, slots=True)
class WebSession:
    token_hash: str
    user_id: int
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime


class WebSessionRepository(Protocol):
    async def credentials(self, *, username: str) -> tuple[User, str | None] | None:
        """The user and their password hash."""
        ...

    async def add(self, *, session: WebSession) -> None: ...

    async def get(self, *, token_hash: str) -> tuple[WebSession, User] | None: ...

    async def touch(self, *, token_hash: str, at: datetime) -> None: ...

    async def delete(self, *, token_hash: str) -> None: ...

    async def delete_expired(self, *, before: datetime) -> int: ...

    async def delete_of_user(self, *, user_id: int, keep_token_hash: str | None = None) -> int:
        """End every session of the user but the one kept; returns how many ended."""
        ...


class WebSessionUnit(Protocol):
    web_sessions: WebSessionRepository


def csrf_token(session_token: str) -> str:
    """The CSRF token of a browser session: derived from the secret cookie, so a page from elsewhere cannot know it."""
    return hashlib.sha256(b"csrf:" + session_token.encode()).hexdigest()
