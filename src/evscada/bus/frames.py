"""The recent OCPP frames of a station held by another node, for the console's station page (ADR 12).

Each gateway keeps a station's last frames in memory, in the station's session. In one process the console reads
them there; in a cluster the console of an api process asks the node that holds the station, on that node's
channel, and waits briefly: the page shows nothing rather than wait for a node that does not answer.

Messages on the node channels (JSON):
  {"type": "frames", "id", "reply_to": node, "station_id", "limit"}
  {"type": "frames_reply", "id", "frames": [[unix time, direction, frame text], ...]}
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from evscada.bus.node_channel import Message, NodeChannel
from evscada.bus.ownership import StationOwnership
from evscada.core.model import StationId

log = logging.getLogger(__name__)

FRAMES, FRAMES_REPLY = "frames", "frames_reply"

Frame = tuple[float, str, str]  # unix time, direction, the frame's text
LocalFrames = Callable[[StationId], Sequence[Frame]]


class FrameServer:
    """Answers other nodes' questions for the recent frames of the stations held here."""

    def __init__(self, channel: NodeChannel, local: LocalFrames) -> None:
        """`channel`: the node's shared channel, started by whoever built it; `local`: this node's sessions' frames."""
        self._channel = channel
        self._local = local
        channel.on(FRAMES, self._serve)

    async def _serve(self, request: Message) -> None:
        reply_to = request.get("reply_to")
        if not isinstance(reply_to, str):
            log.warning("frames request without reply_to ignored: %.500r", request)
            return
        limit = request.get("limit")
        frames = list(self._local(StationId(str(request.get("station_id")))))
        if isinstance(limit, int) and limit >= 0:
            frames = frames[-limit:] if limit else []
        answer = {"type": FRAMES_REPLY, "id": request.get("id"), "frames": [list(frame) for frame in frames]}
        try:
            await self._channel.publish(reply_to, answer)
        except Exception as exc:
            log.info("frames for node %s not sent (Redis fails: %s)", reply_to, exc)


class RemoteFrames:
    """A station's recent frames wherever it is held: here from the session, elsewhere by asking its node."""

    def __init__(
        self, channel: NodeChannel, ownership: StationOwnership, local: LocalFrames, *, timeout: float = 2.0
    ) -> None:
        if channel is not ownership.channel:
            raise ValueError("pass the node's one channel, the one its ownership uses")
        self._channel = channel
        self._ownership = ownership
        self._local = local
        self._timeout = timeout
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        channel.on(FRAMES_REPLY, self._answered)

    async def frames(self, station_id: StationId, *, limit: int = 100) -> list[Frame]:
        """The last `limit` frames, oldest first; empty when the station is connected nowhere or its node does
        not answer within the timeout (logged: the page then shows no frames, never an error)."""
        local = list(self._local(station_id))
        if local:
            return local[-limit:]
        try:
            owner = await self._ownership.owner_of(station_id)
        except Exception as exc:
            log.info("%s: frames not read, its node is unknown (Redis fails: %s)", station_id, exc)
            return []
        if owner is None or owner == self._channel.node_id:
            return []
        return await self._ask(owner, station_id, limit)

    async def _ask(self, owner: str, station_id: StationId, limit: int) -> list[Frame]:
        request_id = uuid.uuid4().hex
        answer: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        request = {
            "type": FRAMES,
            "id": request_id,
            "reply_to": self._channel.node_id,
            "station_id": station_id,
            "limit": limit,
        }
        try:
            if await self._channel.publish(owner, request) == 0:
                return []  # the owner is gone: the station is connected nowhere until it reconnects
            message = await asyncio.wait_for(answer, self._timeout)
        except TimeoutError:
            log.info("%s: node %s did not send its frames within %g s", station_id, owner, self._timeout)
            return []
        except Exception as exc:
            log.info("%s: frames not read from node %s (Redis fails: %s)", station_id, owner, exc)
            return []
        finally:
            self._waiting.pop(request_id, None)
        return _frames_from(message.get("frames"))

    async def _answered(self, message: Message) -> None:
        future = self._waiting.get(str(message.get("id")))
        if future is not None and not future.done():
            future.set_result(message)


def _frames_from(value: Any) -> list[Frame]:
    """The reply's frames, skipping any entry that is not [time, direction, text]."""
    frames: list[Frame] = []
    for entry in value if isinstance(value, list) else []:
        if (
            isinstance(entry, list)
            and len(entry) == 3
            and isinstance(entry[0], int | float)
            and isinstance(entry[1], str)
            and isinstance(entry[2], str)
        ):
            frames.append((float(entry[0]), entry[1], entry[2]))
    return frames
