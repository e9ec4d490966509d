"""What storage keeps of stations, as Protocols: the station records, what they report of themselves, their messages."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from evscada.core.model import BootInfo, RegistrationStatus, Station, StationId, StationMessage, StatusReport


class StationRepository(Protocol):
    async def get(self, *, station_id: StationId) -> Station | None: ...

    async def add(self, *, station: Station) -> None: ...

    async def save(self, *, station: Station) -> None: ...

    async def list(self) -> list[Station]: ...

    async def delete(self, *, station_id: StationId) -> bool: ...


class StationStateSink(Protocol):
    """What stations say about themselves: writes may be grouped with other stations' into one commit, never
    skipped, and each call returns once its write is committed."""

    async def connection(
        self, *, station_id: StationId, online: bool, at: datetime, ocpp_version: str | None, reason: str | None
    ) -> None:
        """Connection state on the station and a row of its connectivity history."""
        ...

    async def boot(self, *, station_id: StationId, boot: BootInfo, at: datetime) -> RegistrationStatus | None:
        """Store what the station said of itself; its registration, or None if there is no such station."""
        ...

    async def status(self, *, station_id: StationId, report: StatusReport, received_at: datetime) -> bool:
        """Store the report in the history and as current state; True when the current state changed."""
        ...


class StationMessageRepository(Protocol):
    async def add(self, *, station_id: StationId, message: StationMessage, received_at: datetime) -> None: ...
