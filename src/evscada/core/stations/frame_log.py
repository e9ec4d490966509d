"""Message logging: while an operator switches it on for a station, its OCPP frames are kept in the database."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from evscada.core.model import StationId
from evscada.core.ports import Clock, Store

log = logging.getLogger(__name__)

# (unix time, "in"/"out", raw frame): an entry of the gateway's in-memory ring buffer.
RawFrame = tuple[float, str, str]
FrameSource = Callable[[StationId], Sequence[RawFrame]]
SWITCHES_REREAD_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class LoggedFrame:
    station_id: StationId
    at: datetime
    direction: str  # in: from the station; out: to it
    frame: str


@dataclass(frozen=True, slots=True)
class FrameLogging:
    station_id: StationId
    since: datetime
    actor: str


class FrameLogRepository(Protocol):
    async def switch(self, *, station_id: StationId, on: FrameLogging | None) -> None:
        """Turn logging on (who, since when) or off (None)."""
        ...

    async def switched_on(self) -> list[FrameLogging]: ...

    async def add(self, *, frames: Sequence[LoggedFrame]) -> None: ...

    async def recent(self, *, station_id: StationId, limit: int) -> list[LoggedFrame]:
        """Newest first."""
        ...


class FrameLogUnit(Protocol):
    frame_log: FrameLogRepository


class FrameLogService:
    def __init__(self, *, store: Store[FrameLogUnit], clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # The newest ring-buffer entry already stored, per station: entries are kept objects, so identity finds it.
        self._last: dict[StationId, RawFrame] = {}
        # Which stations log, cached: the recorder runs every second; other nodes' switches show within a minute.
        self._switched: dict[StationId, FrameLogging] | None = None
        self._switched_read = 0.0

    async def switch(self, *, station_id: StationId, on: bool, actor: str) -> None:
        state = FrameLogging(station_id=station_id, since=self._clock.now(), actor=actor) if on else None
        async with self._store.unit() as uow:
            await uow.frame_log.switch(station_id=station_id, on=state)
        self._switched = None
        log.info("%s: message logging %s by %s", station_id, "on" if on else "off", actor)

    async def switched_on(self) -> dict[StationId, FrameLogging]:
        async with self._store.unit() as uow:
            return {s.station_id: s for s in await uow.frame_log.switched_on()}

    async def recent(self, *, station_id: StationId, limit: int = 1000) -> list[LoggedFrame]:
        async with self._store.unit() as uow:
            return await uow.frame_log.recent(station_id=station_id, limit=limit)

    async def record(self, frames_of: FrameSource) -> int:
        """Store the frames that arrived since the last call for every station with logging on; returns how many."""
        if self._switched is None or time.monotonic() - self._switched_read > SWITCHES_REREAD_SECONDS:
            self._switched, self._switched_read = await self.switched_on(), time.monotonic()
        switched = self._switched
        for gone in set(self._last) - set(switched):
            del self._last[gone]
        new: list[LoggedFrame] = []
        for station_id, state in switched.items():
            frames = list(frames_of(station_id))
            start = 0
            last = self._last.get(station_id)
            for index in range(len(frames) - 1, -1, -1):
                if frames[index] is last:
                    start = index + 1
                    break
            since = state.since.timestamp()
            new += [
                LoggedFrame(station_id, datetime.fromtimestamp(at, UTC), way, text)
                for at, way, text in frames[start:]
                if at >= since
            ]
            if frames:
                self._last[station_id] = frames[-1]
        if new:
            async with self._store.unit() as uow:
                await uow.frame_log.add(frames=new)
        return len(new)

    async def keep_recording(self, frames_of: FrameSource, interval: float) -> None:
        """Background loop; the ring buffer holds enough frames to bridge one interval."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.record(frames_of)
            except Exception:
                log.exception("storing logged OCPP frames failed; retrying in %.0f s", interval)
