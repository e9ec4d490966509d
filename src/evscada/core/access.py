"""Who may do what: users with roles, and API keys for machines."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol

from evscada.core.errors import DomainError
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


class UserExists(DomainError):
    code = "user_exists"


class UnknownUser(DomainError):
    code = "unknown_user"


class UserRepository(Protocol):
    async def add(self, *, username: str, password_hash: str | None, role: Role) -> User: ...

    async def by_username(self, *, username: str) -> User | None: ...

    async def add_key(self, *, user_id: int, name: str, prefix: str, key_hash: str) -> None: ...

    async def by_key_hash(self, *, key_hash: str) -> User | None: ...


def hash_key(key: str) -> str:
    # API keys are 256-bit random secrets: a fast hash is enough (no guessing to slow down), so a request
    # costs one indexed lookup, not an argon2 round.
    return hashlib.sha256(key.encode()).hexdigest()


class AccessService:
    def __init__(self, *, store: Store, clock: Clock, hasher: PasswordHasher) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher

    async def add_user(self, *, username: str, role: Role, password: str | None = None) -> User:
        password_hash = await self._hasher.hash(password) if password else None
        async with self._store.unit() as uow:
            if await uow.users.by_username(username=username) is not None:
                raise UserExists(f"user {username} already exists")
            return await uow.users.add(username=username, password_hash=password_hash, role=role)

    async def create_api_key(self, *, username: str, name: str) -> str:
        """A new key for the user; returned once, only its hash is kept."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        async with self._store.unit() as uow:
            user = await uow.users.by_username(username=username)
            if user is None:
                raise UnknownUser(f"no user {username}; create it with `evscada user add`")
            await uow.users.add_key(user_id=user.id, name=name, prefix=key[:12], key_hash=hash_key(key))
        return key

    async def authenticate_key(self, key: str) -> User | None:
        if not key.startswith(KEY_PREFIX):
            return None
        async with self._store.unit() as uow:
            user = await uow.users.by_key_hash(key_hash=hash_key(key))
        return None if user is None or user.disabled else user
