"""Local authorization lists: built from the token table, sent whole or as the changes since the last accepted one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from evscada.core.control.commands import (
    CommandOutcome,
    CommandOutcomeKind,
    CommandService,
    GetLocalListVersion,
    LocalListEntry,
    SendLocalList,
)
from evscada.core.errors import InvalidArgument, UnknownStation
from evscada.core.model import StationId, Token
from evscada.core.ports import Clock, Store
from evscada.core.stations.repositories import StationRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LocalListState:
    """What the CSMS knows of one station's list: the version and entries it last installed there."""

    station_id: StationId
    version: int  # of the last list the station accepted; 0: none yet
    attempted_version: int  # the highest version ever sent, accepted or not: numbers are never reused
    update: str | None  # full | differential, of the last accepted update
    group_id: str | None  # the token group a full update was limited to; differential updates keep it
    sent_at: datetime | None
    command_id: int | None  # the command log entry of the last accepted update
    entries: int
    reported_version: int | None  # what the station last said its version is (GetLocalListVersion)
    reported_at: datetime | None


class LocalListRepository(Protocol):
    async def state(self, *, station_id: StationId) -> LocalListState | None: ...

    async def entries(self, *, station_id: StationId) -> list[LocalListEntry]: ...

    async def tokens(self, *, group_id: str | None) -> list[Token]:
        """Every token of the token table (of that group, if given)."""
        ...

    async def attempt(self, *, station_id: StationId, version: int) -> None:
        """Remember that this version number is used, before it is sent."""
        ...

    async def record_sent(
        self,
        *,
        station_id: StationId,
        version: int,
        full: bool,
        group_id: str | None,
        entries: Sequence[LocalListEntry],
        command_id: int,
        at: datetime,
    ) -> None:
        """The station accepted: a full list replaces the entries, a differential one amends them."""
        ...

    async def record_reported(self, *, station_id: StationId, version: int, at: datetime) -> None: ...


class LocalListUnit(Protocol):
    local_lists: LocalListRepository
    stations: StationRepository


@dataclass(frozen=True, slots=True)
class LocalListSent:
    outcome: CommandOutcome
    state: LocalListState
    updated: int  # entries sent with their info (added or changed)
    removed: int  # entries sent without (removed from the list)
    accepted: bool


def entry_of(token: Token) -> LocalListEntry:
    return LocalListEntry(
        value=token.value,
        type=token.type,
        status=str(token.status),
        expires_at=token.expires_at,
        group_id=token.group_id,
    )


def differences(sent: Sequence[LocalListEntry], current: Sequence[LocalListEntry]) -> list[LocalListEntry]:
    """What a differential update must carry: new or changed entries, and removals (status None)."""
    before = {e.value: e for e in sent}
    now = {e.value: e for e in current}
    changed = [e for value, e in now.items() if before.get(value) != e]
    removed = [LocalListEntry(value=value, type=e.type, status=None) for value, e in before.items() if value not in now]
    return changed + removed


class LocalListService:
    def __init__(self, *, store: Store[LocalListUnit], clock: Clock, commands: CommandService) -> None:
        self._store = store
        self._clock = clock
        self._commands = commands
        # One update at a time per station: two at once would compute their differences from the same base.
        self._locks: dict[StationId, asyncio.Lock] = {}

    async def send(
        self,
        *,
        station_id: StationId,
        full: bool,
        group_id: str | None = None,
        actor: str,
        reason: str | None = None,
    ) -> LocalListSent:
        """Send the whole list (full) or what changed since the last accepted update (differential)."""
        if not full and group_id is not None:
            raise InvalidArgument("group: a differential update keeps the group of the last full update")
        lock = self._locks.setdefault(station_id, asyncio.Lock())
        async with lock:
            async with self._store.unit() as uow:
                if await uow.stations.get(station_id=station_id) is None:
                    raise UnknownStation(f"station {station_id} is not registered")
                state = await uow.local_lists.state(station_id=station_id)
                group = group_id if full else (state.group_id if state else None)
                current = [entry_of(token) for token in await uow.local_lists.tokens(group_id=group)]
                sent = [] if full else await uow.local_lists.entries(station_id=station_id)
                version = max(state.version, state.attempted_version) + 1 if state else 1
                await uow.local_lists.attempt(station_id=station_id, version=version)
            entries = current if full else differences(sent, current)
            outcome = await self._commands.send(
                station_id=station_id,
                command=SendLocalList(version=version, full=full, entries=tuple(entries)),
                actor=actor,
                reason=reason,
            )
            accepted = outcome.outcome == CommandOutcomeKind.ANSWERED and outcome.status == "Accepted"
            async with self._store.unit() as uow:
                if accepted:
                    await uow.local_lists.record_sent(
                        station_id=station_id,
                        version=version,
                        full=full,
                        group_id=group,
                        entries=entries,
                        command_id=outcome.command_id,
                        at=outcome.finished_at,
                    )
                after = await uow.local_lists.state(station_id=station_id)
        assert after is not None
        if not accepted:
            log.warning(
                "%s: local list version %d not installed: %s", station_id, version, outcome.status or outcome.error
            )
        return LocalListSent(
            outcome=outcome,
            state=after,
            updated=sum(1 for e in entries if e.status is not None),
            removed=sum(1 for e in entries if e.status is None),
            accepted=accepted,
        )

    async def read_version(self, *, station_id: StationId, actor: str, reason: str | None = None) -> CommandOutcome:
        """Ask the station which list version it holds, and keep its answer beside what the CSMS sent."""
        outcome = await self._commands.send(
            station_id=station_id, command=GetLocalListVersion(), actor=actor, reason=reason
        )
        version = outcome.data.get("version")
        if outcome.outcome == CommandOutcomeKind.ANSWERED and isinstance(version, int):
            async with self._store.unit() as uow:
                await uow.local_lists.record_reported(station_id=station_id, version=version, at=outcome.finished_at)
        return outcome

    async def state(self, *, station_id: StationId) -> LocalListState:
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise UnknownStation(f"station {station_id} is not registered")
            state = await uow.local_lists.state(station_id=station_id)
        return state or LocalListState(station_id, 0, 0, None, None, None, None, 0, None, None)

    async def entries(self, *, station_id: StationId) -> list[LocalListEntry]:
        """The entries the station accepted last, as the CSMS recorded them."""
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is None:
                raise UnknownStation(f"station {station_id} is not registered")
            return await uow.local_lists.entries(station_id=station_id)
