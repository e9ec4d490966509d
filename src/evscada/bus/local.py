"""In-process event bus: each subscriber gets its own bounded queue; a slow one never blocks the gateway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from evscada.core.events import Event

log = logging.getLogger(__name__)


class LocalBus:
    def __init__(self, *, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        # queue -> the event types it wants (None: all); a subscriber is not woken for events it would ignore
        self._subscribers: dict[asyncio.Queue[Event], tuple[type[Event], ...] | None] = {}
        self.dropped = 0

    def publish(self, event: Event) -> None:
        for queue, kinds in self._subscribers.items():
            if kinds is not None and not isinstance(event, kinds):
                continue
            if queue.full():
                queue.get_nowait()  # the oldest goes first: a live view wants the newest state
                self.dropped += 1
            queue.put_nowait(event)

    def wants(self, kind: type[Event]) -> bool:
        """Whether any subscriber would receive an event of this type: what no one here reads need not be decoded."""
        return any(kinds is None or issubclass(kind, kinds) for kinds in self._subscribers.values())

    @asynccontextmanager
    async def subscribe(self, *kinds: type[Event]) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the events of these types (none given: every event) published from now on."""
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers[queue] = kinds or None
        try:
            yield queue
        finally:
            self._subscribers.pop(queue, None)
