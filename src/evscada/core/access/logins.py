"""Web console log-in: a password opens a browser session; repeated failures back off instead of hashing."""

from __future__ import annotations

import ipaddress
import logging
import math
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from evscada.core import events
from evscada.core.access.throttle import BackOff, BackOffRule
from evscada.core.access.users import User, WebSession, WebSessionUnit, hash_key
from evscada.core.errors import LoginFailed, LoginThrottled
from evscada.core.model import StationId
from evscada.core.ports import Clock, EventBus, PasswordHasher, Store

log = logging.getLogger(__name__)

LOGIN_BURST = "ConsoleLoginFailures"  # the security event's kind: one alarm, counting each burst
SESSION_TOUCH_SECONDS = 60  # last_used_at is written at most this often, not on every request


@dataclass(frozen=True, slots=True)
class LoginBackOff:
    """Keys are a user name at an address and the address alone: an attacker elsewhere cannot lock a user out, and
    the user's own back-off is kept short for whoever shares the attacker's address."""

    user_at_address: BackOffRule = field(
        default_factory=lambda: BackOffRule(
            failures=5, window=timedelta(minutes=15), first=timedelta(seconds=1), longest=timedelta(minutes=1)
        )
    )
    address: BackOffRule = field(
        default_factory=lambda: BackOffRule(
            failures=20, window=timedelta(minutes=15), first=timedelta(seconds=1), longest=timedelta(minutes=15)
        )
    )


def network_of(address: str) -> str:
    """Where a log-in comes from: the IPv4 address, or the /64 of an IPv6 one (one subscriber holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class LoginService:
    def __init__(
        self,
        *,
        store: Store[WebSessionUnit],
        clock: Clock,
        hasher: PasswordHasher,
        bus: EventBus,
        backoff: LoginBackOff | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._bus = bus
        backoff = backoff or LoginBackOff()
        self._user_at_address = BackOff(backoff.user_at_address, clock=clock)
        self._address = BackOff(backoff.address, clock=clock)
        self._dummy_hash: str | None = None

    async def login(self, *, username: str, password: str, lifetime: timedelta, address: str) -> tuple[str, User]:
        """Check the password and open a session; returns the session token (for the cookie) and the user.

        After repeated failures the name at that address, or the address, is refused for a while without a check.
        """
        where = network_of(address)
        key = (username.casefold(), where)
        wait = max(self._user_at_address.wait(key), self._address.wait(where))
        if wait > 0:
            raise LoginThrottled(math.ceil(wait))
        try:
            user = await self._check(username, password)
        except LoginFailed:
            self._failed(username, key, where)
            raise
        self._user_at_address.succeeded(key)  # the address keeps its count: one good account must not reset it
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

    async def _check(self, username: str, password: str) -> User:
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
        return user

    def _failed(self, username: str, key: tuple[str, str], where: str) -> None:
        """Count the failure; the start of a back-off is a security event (an alarm), its repeats are not."""
        bursts = []
        if self._user_at_address.failed(key):
            rule = self._user_at_address.rule
            bursts.append(f"{rule.failures} failed log-ins as {username[:100]!r} from {where}")
        if self._address.failed(where):
            bursts.append(f"{self._address.rule.failures} failed log-ins from {where}")
        if not bursts:
            return
        detail = "; ".join(bursts) + "; further attempts are refused for a while"
        log.warning("console log-in: %s", detail)
        self._bus.publish(
            events.SecurityEventRaised(station_id=StationId(""), at=self._clock.now(), kind=LOGIN_BURST, detail=detail)
        )

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
