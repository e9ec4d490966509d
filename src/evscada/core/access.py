"""Who may do what: users with roles, and API keys for machines."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
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


# Web console log-in: a browser session is a random token in a cookie; only its hash is stored.

SESSION_TOUCH_SECONDS = 60  # last_used_at is written at most this often, not on every request


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


class LoginFailed(DomainError):
    code = "login_failed"  # one message for unknown user, wrong password and disabled user: no user enumeration


def csrf_token(session_token: str) -> str:
    """The CSRF token of a browser session: derived from the secret cookie, so a page from elsewhere cannot know it."""
    return hashlib.sha256(b"csrf:" + session_token.encode()).hexdigest()


class LoginService:
    def __init__(self, *, store: Store, clock: Clock, hasher: PasswordHasher) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._dummy_hash: str | None = None

    async def login(self, *, username: str, password: str, lifetime: timedelta) -> tuple[str, User]:
        """Check the password and open a session; returns the session token (for the cookie) and the user."""
        async with self._store.unit() as uow:
            found = await uow.web_sessions.credentials(username=username)
        if found is None or found[1] is None:
            # Spend the same time as a real check, so the answer's delay does not tell which usernames exist.
            if self._dummy_hash is None:
                self._dummy_hash = await self._hasher.hash(secrets.token_hex(8))
            await self._hasher.verify(self._dummy_hash, password)
            raise LoginFailed("wrong username or password")
        user, password_hash = found
        assert password_hash is not None
        if not await self._hasher.verify(password_hash, password) or user.disabled:
            raise LoginFailed("wrong username or password")
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._store.unit() as uow:
            await uow.web_sessions.delete_expired(before=now)
            await uow.web_sessions.add(
                session=WebSession(
                    token_hash=hash_key(token),
                    user_id=user.id,
                    created_at=now,
                    last_used_at=now,
                    expires_at=now + lifetime,
                )
            )
        return token, user

    async def session_user(self, token: str) -> User | None:
        """The user of a live session; None when unknown, expired, or the user was disabled."""
        token_hash = hash_key(token)
        now = self._clock.now()
        async with self._store.unit() as uow:
            found = await uow.web_sessions.get(token_hash=token_hash)
            if found is None:
                return None
            session, user = found
            if session.expires_at <= now or user.disabled:
                return None
            if (now - session.last_used_at).total_seconds() > SESSION_TOUCH_SECONDS:
                await uow.web_sessions.touch(token_hash=token_hash, at=now)
        return user

    async def logout(self, token: str) -> None:
        async with self._store.unit() as uow:
            await uow.web_sessions.delete(token_hash=hash_key(token))
