"""Station id -> its live session on this node."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Protocol

from evscada.core.model import StationId
from evscada.gateway.session import StationSession

log = logging.getLogger(__name__)


class LastSeenWriter(Protocol):
    """The store's one write the registry makes."""

    async def touch_stations(self, *, last_seen: Mapping[StationId, datetime]) -> None: ...


class StationClaims(Protocol):
    """A cluster's record of which node holds each station (bus/ownership.py; ADR 12). The last connection wins:
    a claim takes the station from wherever it was, and the session it took it from is closed through its `drop`.
    Absent (one process), the registry alone knows."""

    async def claim(self, station_id: str, token: str, drop: Callable[[str], Awaitable[None]]) -> None:
        """Record this session (`token`, unique per session) as the station's; `drop(reason)` closes it when
        another session takes the station. Never raises for want of the record: the station is served anyway."""
        ...

    async def release(self, station_id: str, token: str) -> None:
        """The session ended: forget the record if it still names this session."""
        ...


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[StationId, StationSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, station_id: StationId) -> StationSession | None:
        return self._sessions.get(station_id)

    def sessions(self) -> list[StationSession]:
        return list(self._sessions.values())

    def add(self, session: StationSession) -> StationSession | None:
        """Make `session` the station's live one; returns the one it replaces, for the caller to close."""
        previous = self._sessions.get(session.station_id)
        self._sessions[session.station_id] = session
        return previous

    def remove(self, session: StationSession) -> bool:
        """Forget `session` unless a newer connection of the same station has replaced it."""
        if self._sessions.get(session.station_id) is session:
            del self._sessions[session.station_id]
            return True
        return False

    async def flush_last_seen(self, store: LastSeenWriter) -> None:
        seen = {}
        for session in self._sessions.values():
            if session.seen_since_flush:
                session.seen_since_flush = False
                seen[session.station_id] = session.last_seen
        await store.touch_stations(last_seen=seen)

    async def keep_last_seen_flushed(self, store: LastSeenWriter, interval: float) -> None:
        """Background loop: last-seen lives in memory and reaches the database in one write per interval."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush_last_seen(store)
            except Exception:
                log.exception("writing stations' last-seen times failed; retrying in %.0f s", interval)
