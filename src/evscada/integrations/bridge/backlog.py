"""A bridge's own bounded backlog: fed from the bus without awaiting, so a slow broker or client costs the bridge
its oldest backlog (counted, alarmed once) and never the gateway a moment or the stations a message."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from evscada.bus import Bus
from evscada.core.events import Event
from evscada.core.model import AlarmPriority
from evscada.core.services import Core

log = logging.getLogger(__name__)

T = TypeVar("T")

BridgeState = Literal["starting", "connected", "reconnecting", "listening", "failed"]


@dataclass(frozen=True, slots=True)
class BridgeHealth:
    """One bridge as /api/v1/health and /metrics show it."""

    name: str  # mqtt | opcua | iec104
    state: BridgeState
    detail: str | None  # why it is not connected, or where it listens
    queued: int  # items waiting in its backlog
    dropped: int  # items dropped from its backlog since start (the oldest first)
    published: int  # items delivered (MQTT: published; OPC UA: values written; IEC 104: spontaneous sends)
    commands: int  # commands received from the bridge's clients


class Backlog(Generic[T]):
    """A bounded FIFO: `put` never waits; when full the oldest item goes, and the first drop of an episode calls
    `on_overflow` (the bridge raises its alarm there). An episode ends when the backlog empties again."""

    def __init__(self, size: int, *, on_overflow: Callable[[], None]) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._size = size
        self._ready = asyncio.Event()
        self._on_overflow = on_overflow
        self._overflowing = False
        self.dropped = 0
        self.dropped_last: T | None = None  # the last item dropped (the MQTT bridge resyncs what it loses)
        self._lost = False  # something was dropped since the last resync_due()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        if len(self._items) >= self._size:
            self.dropped_last = self._items.popleft()
            self.dropped += 1
            self._lost = True
            if not self._overflowing:
                self._overflowing = True
                self._on_overflow()
        self._items.append(item)
        self._ready.set()

    async def get(self) -> T:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if not self._items:
            self._overflowing = False
        return item

    def put_all(self, items: Iterable[T]) -> None:
        for item in items:
            self.put(item)

    def resync_due(self) -> bool:
        """True once the backlog is empty after it dropped something: a dropped change may have been the last of its
        kind, so the bridge writes its whole state once (OPC UA, IEC 104)."""
        if self._lost and not self._items:
            self._lost = False
            return True
        return False

    def push_front(self, item: T) -> None:
        """Put back an item that could not be delivered (the connection broke): it goes first when it is back, unless
        the backlog filled meanwhile: then it is the oldest, and the one dropped."""
        if len(self._items) >= self._size:
            self.dropped_last = item
            self.dropped += 1
            return
        self._items.appendleft(item)
        self._ready.set()


async def pump(bus: Bus, handle: Callable[[Event], None]) -> None:
    """Move every event from the bus to `handle` (which must not await): the bus's queue for this bridge stays
    empty however slow the bridge's far side is."""
    async with bus.subscribe() as queue:
        while True:
            handle(await queue.get())


class OverflowAlarm:
    """Raises the bridge's "backlog overflow" alarm (source "bridge") once per episode, off the caller's path."""

    def __init__(self, core: Core, bridge: str) -> None:
        self._core = core
        self._bridge = bridge
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self) -> None:
        log.warning(
            "%s bridge: backlog full, dropping its oldest items (the stations' messages are kept)", self._bridge
        )
        task = asyncio.get_running_loop().create_task(self._raise())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _raise(self) -> None:
        try:
            await self._core.alarms.raise_alarm(
                key=f"bridge:{self._bridge}:backlog",
                source="bridge",
                station_id=None,
                evse=None,
                priority=AlarmPriority.MEDIUM,
                message=(
                    f"the {self._bridge} bridge cannot keep up and drops its oldest backlog "
                    "(a slow or blocked broker/client); stations and the database are not affected"
                ),
            )
        except Exception:  # the alarm is a courtesy; the drop count in /metrics stays the truth
            log.exception("%s bridge: could not raise the backlog alarm", self._bridge)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task


@contextlib.asynccontextmanager
async def cancelling(*tasks: asyncio.Task[None]) -> AsyncIterator[None]:
    """Cancel and await the tasks when the block ends."""
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
