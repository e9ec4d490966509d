"""Event distribution: in-process by default, Redis when several nodes share the work."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from evscada.core.events import Event


class Bus(Protocol):
    """What publishers and subscribers use of a bus: LocalBus in one process, RedisBus in a cluster (ADR 12)."""

    def publish(self, event: Event) -> None:
        """Hand an event to every subscriber without waiting for any."""
        ...

    def subscribe(self, *kinds: type[Event]) -> AbstractAsyncContextManager[asyncio.Queue[Event]]:
        """A queue of the events of these types (none given: all) published from now on."""
        ...
