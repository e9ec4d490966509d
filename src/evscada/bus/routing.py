"""Commands to stations held by another node (ADR 12, "Commands"): the command service is unchanged, only its
commander differs.

`RoutingCommander` looks up the station's owner: none is `StationOffline` (nothing sent); this node runs the
command on its own sessions; another node gets a request on its node channel and answers on ours. A domain error
crosses by its code and is raised again as the same class with the same message, so the API answers as it does in
one process. A request no process receives (PUBLISH counts 0: the owner is gone) is `StationOffline`; one without
an answer within the timeout is `CommandTimeout`.

Messages on the node channels (JSON; the command and the reply in the codec's JSON, bus/codec.py):
  {"type": "command", "id", "reply_to": node, "station_id", "command"}
  {"type": "reply", "id", "reply"}
  {"type": "error", "id", "code", "message", "field", "details"}
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from evscada.bus import codec
from evscada.bus.node_channel import Message, NodeChannel, shared_or_own
from evscada.bus.ownership import StationOwnership
from evscada.core.control.commands import Command, CommandReply, StationCommander
from evscada.core.errors import CommandTimeout, DomainError, StationOffline
from evscada.core.model import StationId

log = logging.getLogger(__name__)

COMMAND, REPLY, ERROR = "command", "reply", "error"
INTERNAL_ERROR = "internal_error"  # the serving node failed unexpectedly (a bug there; see its log)


class RemoteCommandFailed(Exception):
    """The node holding the station failed to run the command for a reason that is no domain error: a fault of
    ours, as an unexpected exception in the gateway's commander is in one process."""


def _domain_errors() -> dict[str, type[DomainError]]:
    found: dict[str, type[DomainError]] = {}
    pending = list(DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_message(request_id: str, exc: DomainError) -> Message:
    """A domain error as it crosses: code, message, field and its own plain attributes (CALLERROR code ...)."""
    details = {
        name: value
        for name, value in vars(exc).items()
        if name not in ("message", "field") and isinstance(value, str | int | float | bool | None)
    }
    return {
        "type": ERROR,
        "id": request_id,
        "code": exc.code,
        "message": exc.message,
        "field": exc.field,
        "details": details,
    }


def error_from(message: Message, *, node: str) -> Exception:
    """The same domain error class, message and attributes as raised on `node`; RemoteCommandFailed otherwise."""
    code, text = message.get("code"), str(message.get("message", ""))
    cls = _domain_errors().get(code) if isinstance(code, str) else None
    if cls is None:
        return RemoteCommandFailed(f"node {node} failed to run the command ({code}): {text}")
    error = cls.__new__(cls)  # not cls(...): some take other arguments (CommandCallError's OCPP code)
    Exception.__init__(error, text)
    details = message.get("details")
    if isinstance(details, dict):
        vars(error).update(details)
    field = message.get("field")
    error.message = text
    error.field = field if isinstance(field, str) else None
    return error


class RoutingCommander:
    """The command service's `StationCommander` in a cluster: runs a command wherever the station is held."""

    def __init__(
        self,
        client: Any,  # redis.asyncio.Redis
        *,
        node_id: str,
        prefix: str,
        ownership: StationOwnership,
        local: StationCommander | None,
        timeout: float,
    ) -> None:
        """`local`: this node's own sessions (None on a node without a gateway); `timeout`: the call timeout
        plus a margin for the trips through Redis. Replies arrive on `ownership.channel`."""
        if (ownership.node_id, ownership.channel.prefix) != (node_id, prefix):
            raise ValueError(
                f"the ownership is {ownership.channel.prefix}/{ownership.node_id}, not {prefix}/{node_id}: "
                "pass this node's ownership"
            )
        self._redis = client
        self.node_id = node_id
        self._ownership = ownership
        self._channel = ownership.channel
        self._local = local
        self._timeout = timeout
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._channel.on(REPLY, self._answered)
        self._channel.on(ERROR, self._answered)

    async def start(self) -> None:
        """Nothing to start: replies arrive on the ownership's channel, which the ownership (or its builder) runs."""

    async def stop(self) -> None:
        """Commands still waiting for another node's answer end now: this node will not hear it."""
        for request_id, future in list(self._waiting.items()):
            if not future.done():
                future.set_result(
                    {
                        "type": ERROR,
                        "id": request_id,
                        "code": CommandTimeout.code,
                        "message": "this node stopped before the station's node answered",
                    }
                )

    async def execute(self, *, station_id: StationId, command: Command) -> CommandReply:
        try:
            owner = await self._ownership.owner_of(station_id)
        except Exception as exc:
            if self._local is not None:  # Redis away: this node's own stations still take commands
                log.warning("%s: owner unknown (Redis fails: %s); trying this node's sessions", station_id, exc)
                return await self._local.execute(station_id=station_id, command=command)
            raise StationOffline(
                f"station {station_id}: its node cannot be found (Redis fails: {exc}); nothing was sent"
            ) from None
        if owner is None:
            raise StationOffline(f"station {station_id} is not connected to any node; nothing was sent")
        if owner == self.node_id:
            if self._local is None:
                raise StationOffline(f"station {station_id} is held by this node, which has no gateway")
            return await self._local.execute(station_id=station_id, command=command)
        return await self._remote(owner, station_id, command)

    async def _remote(self, owner: str, station_id: StationId, command: Command) -> CommandReply:
        request_id = uuid.uuid4().hex
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        request = {
            "type": COMMAND,
            "id": request_id,
            "reply_to": self.node_id,
            "station_id": station_id,
            "command": codec.encode(command).decode(),
        }
        try:
            try:
                receivers = await self._channel.publish(owner, request)
            except Exception as exc:
                raise StationOffline(
                    f"station {station_id} is on node {owner}, which cannot be reached (Redis fails: {exc}); "
                    "nothing was sent"
                ) from None
            if receivers == 0:
                raise StationOffline(f"station {station_id} was held by node {owner}, which is gone; nothing was sent")
            try:
                message = await asyncio.wait_for(answer, self._timeout)
            except TimeoutError:
                raise CommandTimeout(
                    f"station {station_id} on node {owner} did not answer {command.name} within {self._timeout:g} s"
                ) from None
        finally:
            self._waiting.pop(request_id, None)
        if message["type"] == ERROR:
            raise error_from(message, node=owner)
        reply = codec.decode(str(message.get("reply", "")).encode())
        if not isinstance(reply, CommandReply):
            raise RemoteCommandFailed(f"node {owner} answered {command.name} with {type(reply).__name__}")
        return reply

    async def _answered(self, message: Message) -> None:
        future = self._waiting.get(str(message.get("id")))
        if future is not None and not future.done():
            future.set_result(message)


class CommandServer:
    """Runs the commands other nodes route to this node's sessions and answers on the requester's channel."""

    def __init__(
        self,
        client: Any,  # redis.asyncio.Redis
        *,
        node_id: str,
        prefix: str,
        local: StationCommander,
        channel: NodeChannel | None = None,
    ) -> None:
        """`channel`: the node's shared channel, started by whoever built it; None makes (and runs) one of our own."""
        self._channel, self._own_channel = shared_or_own(client, node_id=node_id, prefix=prefix, channel=channel)
        self.node_id = node_id
        self._local = local
        self.served = 0
        self._channel.on(COMMAND, self._serve)

    async def start(self) -> None:
        if self._own_channel:
            await self._channel.start()

    async def stop(self) -> None:
        if self._own_channel:
            await self._channel.stop()

    async def _serve(self, request: Message) -> None:
        request_id, reply_to = str(request.get("id")), request.get("reply_to")
        if not isinstance(reply_to, str):
            log.warning("command request without reply_to ignored: %.500r", request)
            return
        station_id = StationId(str(request.get("station_id")))
        answer: Message
        try:
            command = codec.decode(str(request.get("command", "")).encode())
            if not isinstance(command, Command):
                raise TypeError(f"a command was expected, not {type(command).__name__}")
            reply = await self._local.execute(station_id=station_id, command=command)
            answer = {"type": REPLY, "id": request_id, "reply": codec.encode(reply).decode()}
        except DomainError as exc:
            answer = error_message(request_id, exc)
        except Exception as exc:  # never a silent hang: the requester hears of it at once
            log.exception("%s: a command routed from node %s failed here", station_id, reply_to)
            answer = {
                "type": ERROR,
                "id": request_id,
                "code": INTERNAL_ERROR,
                "message": f"{type(exc).__name__}: {exc}; see the log of node {self.node_id}",
            }
        self.served += 1
        try:
            receivers = await self._channel.publish(reply_to, answer)
        except Exception as exc:
            log.warning("%s: the answer to node %s was lost (Redis fails: %s)", station_id, reply_to, exc)
            return
        if receivers == 0:
            log.info("%s: node %s, which sent a command, no longer listens for its answer", station_id, reply_to)
