"""Event bus across nodes (ADR 12): local subscribers at once, other nodes through Redis pub/sub.

`publish` never waits for Redis: the event goes to this process's subscribers (a `LocalBus`) and, encoded, into a
bounded outgoing queue a sender task drains; when Redis is slow or away the oldest queued event is dropped and
counted. A listener task delivers the events other nodes publish. Both reconnect with back-off, and an outage is
logged once when it starts and once when it ends, not per event.

What crosses is one Redis message per batch of events, not one per event: packing a PUBLISH costs redis-py about
18 us and receiving one about 20 us, more than encoding the event (docs/performance.md, "Cluster"). A message is
the origin node's id, a newline, then one line per event: its type tag, a tab, its JSON (which holds neither).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis

from evscada.bus import codec
from evscada.bus.local import LocalBus
from evscada.core.events import Event

log = logging.getLogger(__name__)

SEND_BATCH = 1000  # events per Redis message at most: a busy gateway's sender keeps up with fewer, larger trips
FIRST_BACKOFF = 0.1  # seconds before the first reconnect; doubles up to MAX_BACKOFF
MAX_BACKOFF = 2.0
POLL_SECONDS = 1.0  # how long the listener waits for a message before checking that it should go on
START_WAIT = 5.0  # start() waits this long for the subscription, then goes on (the listener keeps trying)


class RedisBus:
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        node_id: str,
        prefix: str,
        queue_size: int = 10_000,
        outgoing_limit: int = 10_000,
    ) -> None:
        self._client = client
        self.node_id = node_id
        self.channel = f"{prefix}:events"
        self._local = LocalBus(queue_size=queue_size)
        self._node_prefix = node_id.encode() + b"\n"
        self._outgoing: deque[bytes] = deque()
        self._outgoing_limit = outgoing_limit
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._send_failing = False
        self._listen_failing = False
        self._unencodable: set[str] = set()  # event classes already logged as unable to cross
        self.sent = 0
        self.received = 0
        self.dropped_outgoing = 0
        self.refused = 0  # messages from Redis that were not an event this node can decode
        self.skipped = 0  # events of other nodes that no subscriber here reads (not decoded)
        self.last_error: str | None = None

    # -- the LocalBus interface ----------------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Events a slow local subscriber lost (as LocalBus counts them)."""
        return self._local.dropped

    def publish(self, event: Event) -> None:
        self._local.publish(event)
        try:
            # the event's type (read without decoding), the event; the sender puts the origin node before a batch
            message = codec.tag_of(type(event)).encode() + b"\t" + codec.encode(event)
        except ValueError as exc:  # a private event (one that holds a future ...) stays in this process
            name = type(event).__qualname__
            if name not in self._unencodable:
                self._unencodable.add(name)
                log.warning("event %s cannot cross to other nodes: %s", name, exc)
            return
        if len(self._outgoing) >= self._outgoing_limit:
            self._outgoing.popleft()  # the oldest goes first: a live view wants the newest state
            self.dropped_outgoing += 1
        self._outgoing.append(message)
        self._wake.set()

    @asynccontextmanager
    async def subscribe(self, *kinds: type[Event]) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the events of these types (none given: every event), from this node and the others."""
        async with self._local.subscribe(*kinds) as queue:
            yield queue

    # -- life cycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start sending and listening; waits (a few seconds at most) until this node hears the other nodes."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._keep_sending(), name="redis-bus-sender"),
            asyncio.create_task(self._keep_listening(), name="redis-bus-listener"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), START_WAIT)

    async def stop(self) -> None:
        """Stop both tasks; events still queued for Redis get one last chance to go out."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._outgoing and not self._send_failing:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._send_batch(), 1.0)

    def health(self) -> dict[str, Any]:
        """What /api/v1/health shows about the bus."""
        return {
            "connected": self._subscribed.is_set() and not self._send_failing,
            "sent": self.sent,
            "received": self.received,
            "queued_outgoing": len(self._outgoing),
            "dropped_outgoing": self.dropped_outgoing,
            "dropped_local": self.dropped,
            "refused": self.refused,
            "skipped": self.skipped,
            "last_error": self.last_error,
        }

    # -- sending -------------------------------------------------------------------------------------------------

    async def _keep_sending(self) -> None:
        backoff = FIRST_BACKOFF
        while True:
            if not self._outgoing:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._send_batch()
            except Exception as exc:
                self._trouble("sending", exc)
                self._send_failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            if self._send_failing:
                self._send_failing = False
                self._recovered("sending")
            backoff = FIRST_BACKOFF

    async def _send_batch(self) -> None:
        batch = [self._outgoing.popleft() for _ in range(min(SEND_BATCH, len(self._outgoing)))]
        try:
            await self._client.publish(self.channel, self._node_prefix + b"\n".join(batch))
        except BaseException:
            # back to the front, in order, within the bound (what no longer fits is the oldest: dropped)
            room = self._outgoing_limit - len(self._outgoing)
            keep = batch[-room:] if room > 0 else []
            self.dropped_outgoing += len(batch) - len(keep)
            self._outgoing.extendleft(reversed(keep))
            raise
        self.sent += len(batch)

    # -- listening -----------------------------------------------------------------------------------------------

    async def _keep_listening(self) -> None:
        backoff = FIRST_BACKOFF
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await self._confirmed(pubsub)
                self._subscribed.set()
                if self._listen_failing:
                    self._listen_failing = False
                    self._recovered("listening")
                backoff = FIRST_BACKOFF
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                    if message is not None and message.get("type") == "message":
                        self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._subscribed.clear()
                self._trouble("listening", exc)
                self._listen_failing = True
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _confirmed(self, pubsub: aioredis.client.PubSub) -> None:
        """Wait for Redis to confirm the subscription: from then on no other node's event is missed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_WAIT
        while loop.time() < deadline:
            message = await pubsub.get_message(timeout=POLL_SECONDS)
            if message is None:
                continue
            if message.get("type") == "subscribe":
                return
            if message.get("type") == "message":
                self._deliver(message["data"])
        raise TimeoutError(f"Redis did not confirm the subscription to {self.channel} within {START_WAIT:.0f} s")

    def _deliver(self, data: bytes) -> None:
        origin, separator, lines = data.partition(b"\n")
        if origin + separator == self._node_prefix:
            return  # our own: delivered locally when published
        if not separator:
            self._refuse(ValueError("no origin node before the events"))
            return
        for line in lines.split(b"\n"):
            self._deliver_one(line)

    def _refuse(self, exc: ValueError) -> None:
        self.refused += 1
        if self.refused == 1 or self.refused % 1000 == 0:
            log.warning(
                "refused %d message(s) on %s (an older or newer node, or not evscada?): %s",
                self.refused,
                self.channel,
                exc,
            )

    def _deliver_one(self, line: bytes) -> None:
        tag, tab, payload = line.partition(b"\t")
        kind = codec.class_of(tag.decode(errors="replace"))
        if kind is not None and issubclass(kind, Event) and not self._local.wants(kind):
            self.skipped += 1  # nobody here reads it: decoding it would cost a gateway what a station's message does
            return
        try:
            if not tab:
                raise ValueError("no type tag before the event")
            event = codec.decode(payload)
            if not isinstance(event, Event):
                raise ValueError(f"a {type(event).__qualname__} is not an event")
        except ValueError as exc:
            self._refuse(exc)
            return
        self.received += 1
        self._local.publish(event)

    # -- outages -------------------------------------------------------------------------------------------------

    def _trouble(self, doing: str, exc: Exception) -> None:
        first = not (self._send_failing or self._listen_failing)
        self.last_error = f"{doing}: {type(exc).__name__}: {exc}"
        if first:
            log.warning(
                "Redis bus of node %s: %s failed (%s); events reach this node's subscribers only, retrying",
                self.node_id,
                doing,
                self.last_error,
            )

    def _recovered(self, doing: str) -> None:
        if not (self._send_failing or self._listen_failing):
            log.warning("Redis bus of node %s: %s works again", self.node_id, doing)
