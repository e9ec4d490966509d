"""What every capability of the core needs from the outside world, as Protocols; each capability declares its own
repositories beside the service that uses them."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, TypeVar

from evscada.core.events import Event

UnitT_co = TypeVar("UnitT_co", covariant=True)


class Clock(Protocol):
    def now(self) -> datetime: ...


class EventBus(Protocol):
    def publish(self, event: Event) -> None:
        """Hand an event to subscribers without waiting for them."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...


class Store(Protocol[UnitT_co]):
    """Opens units of work: repositories bound to one database transaction, committed when the context exits cleanly.

    A service names the unit it needs (`Store[SiteUnit]`): a Protocol listing only the repositories it touches."""

    def unit(self) -> AbstractAsyncContextManager[UnitT_co]: ...
