"""A node's own Redis channel `<prefix>:node:<node>`: one subscription per process, messages handed out by "type".

Ownership (kicks), command routing (requests, replies, errors) and whatever comes next share it: each registers a
handler for its types. A message is a JSON object with a "type"; a handler runs in a task of its own, so a slow
one (a command waiting for its station) never holds up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None]]

_RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0)  # waits between attempts to subscribe again while Redis is away


def node_channel(prefix: str, node_id: str) -> str:
    return f"{prefix}:node:{node_id}"


def shared_or_own(client: Any, *, node_id: str, prefix: str, channel: NodeChannel | None) -> tuple[NodeChannel, bool]:
    """The node's channel as given (started by whoever built it), or one of the caller's own (True: it starts and
    stops it); refuses a channel built for another node."""
    if channel is None:
        return NodeChannel(client, node_id=node_id, prefix=prefix), True
    if (channel.node_id, channel.prefix) != (node_id, prefix):
        raise ValueError(
            f"the node channel is {channel.prefix}/{channel.node_id}, not {prefix}/{node_id}: "
            "pass the channel built for this node"
        )
    return channel, False


class NodeChannel:
    """Subscribes to this node's channel, dispatches its messages, and publishes to other nodes' channels."""

    def __init__(self, client: Any, *, node_id: str, prefix: str) -> None:  # client: redis.asyncio.Redis
        self._redis = client
        self.node_id = node_id
        self.prefix = prefix
        self.channel = node_channel(prefix, node_id)
        self._handlers: dict[str, Handler] = {}
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()
        self.last_error: str | None = None

    def on(self, message_type: str, handler: Handler) -> None:
        """Hand messages of `message_type` to `handler`; one handler per type."""
        if message_type in self._handlers:
            raise ValueError(f"node channel message type {message_type!r} has a handler already")
        self._handlers[message_type] = handler

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self, *, wait: float = 5.0) -> None:
        """Subscribe; waits up to `wait` seconds for the subscription (and goes on trying in the background)."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._listen(), name=f"node-channel {self.channel}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), wait)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for running in list(self._running):
            running.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._subscribed.clear()

    async def publish(self, node_id: str, message: Message) -> int:
        """Send `message` to a node; returns how many subscribers got it (0: no process listens as that node)."""
        receivers = await self._redis.publish(node_channel(self.prefix, node_id), json.dumps(message))
        return int(receivers)

    async def _listen(self) -> None:
        attempt = 0
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                    if message is None:
                        continue
                    if message.get("type") == "subscribe":
                        self._subscribed.set()
                        if self.last_error is not None:
                            log.info("node channel %s: subscribed again", self.channel)
                        self.last_error = None
                        attempt = 0
                    elif message.get("type") == "message":
                        self._dispatch(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away or the connection dropped: subscribe again
                self._subscribed.clear()
                if self.last_error is None:
                    log.warning("node channel %s: Redis fails (%s); subscribing again", self.channel, exc)
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())
            await asyncio.sleep(_RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)])
            attempt += 1

    def _dispatch(self, data: Any) -> None:
        try:
            message = json.loads(data)
            handler = self._handlers.get(message["type"])
        except (ValueError, TypeError, KeyError):
            log.warning("node channel %s: unreadable message ignored: %.500r", self.channel, data)
            return
        if handler is None:  # another subscriber of this node's channel handles it
            log.debug("node channel %s: no handler for %r messages here; ignored", self.channel, message["type"])
            return
        task = asyncio.create_task(self._run(handler, message))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, handler: Handler, message: Message) -> None:
        try:
            await handler(message)
        except Exception:
            log.exception("node channel %s: handling a %r message failed", self.channel, message.get("type"))
