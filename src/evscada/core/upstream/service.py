"""Upstream CSMS per station or per site (docs/adr/0011-ocpp-proxy-to-an-upstream-csms.md).

The core keeps what the proxy needs to survive a restart or an outage: who the upstream is, how to log in, who
answers the station, which upstream commands may reach it, and the transaction messages upstream has not had yet.
The gateway (gateway/upstream) does the talking."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

from evscada.core.errors import InvalidArgument
from evscada.core.model import SiteId, StationId
from evscada.core.ports import Clock, Store

log = logging.getLogger(__name__)

# What is buffered while upstream is away: a CSMS bills and balances from these, so none may be lost.
BUFFERED_ACTIONS = frozenset(
    {"StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent", "StatusNotification"}
)


class UpstreamMode(enum.StrEnum):
    OBSERVE = "observe"  # evscada answers the station; upstream gets a copy, its answers are only logged
    UPSTREAM_ANSWERS = "upstream_answers"  # upstream's answer reaches the station; evscada's when upstream is away


class Scope(enum.StrEnum):
    STATION = "station"
    SITE = "site"


@dataclass(frozen=True, slots=True)
class UpstreamCsms:
    scope: Scope
    target: str  # a station id or a site id
    url: str  # ws:// or wss:// base URL; the station id is appended
    mode: UpstreamMode = UpstreamMode.OBSERVE
    station_id: str | None = None  # the station's id at the upstream CSMS, when it differs from ours
    security_profile: int = 0
    password: str | None = field(default=None, repr=False)  # Basic Auth at upstream; never leaves through the API
    client_cert_file: str | None = None  # profile 3
    client_key_file: str | None = None
    allowed_actions: tuple[str, ...] = ()  # upstream commands that may reach the station
    updated_at: datetime | None = None
    updated_by: str = ""

    def upstream_id(self, station_id: StationId) -> str:
        return self.station_id or station_id


@dataclass(frozen=True, slots=True)
class BufferedMessage:
    id: int
    station_id: StationId
    action: str
    frame: str  # the station's CALL as it arrived
    answer: str  # JSON of what evscada answered the station (1.6: its transactionId, mapped to upstream's)


class UpstreamRepository(Protocol):
    async def get(self, *, scope: Scope, target: str) -> UpstreamCsms | None: ...

    async def put(self, *, config: UpstreamCsms) -> None: ...

    async def delete(self, *, scope: Scope, target: str) -> bool: ...

    async def buffer(self, *, station_id: StationId, action: str, frame: str, answer: str, at: datetime) -> None: ...

    async def buffered(self, *, station_id: StationId, limit: int) -> list[BufferedMessage]:
        """Oldest first."""
        ...

    async def buffered_count(self, *, station_id: StationId) -> int: ...

    async def unbuffer(self, *, ids: Sequence[int]) -> None: ...


class UpstreamUnit(Protocol):
    upstream: UpstreamRepository


def check(config: UpstreamCsms) -> UpstreamCsms:
    """Refuse a configuration that could never connect, saying what to change."""
    parts = urlsplit(config.url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise InvalidArgument(f"upstream url {config.url!r} is not a ws:// or wss:// URL with a host")
    if config.security_profile not in (0, 1, 2, 3):
        raise InvalidArgument(f"security_profile {config.security_profile} is not 0, 1, 2 or 3")
    if config.security_profile >= 2 and parts.scheme != "wss":
        raise InvalidArgument(f"security profile {config.security_profile} needs a wss:// url (TLS)")
    if config.security_profile in (1, 2) and not config.password:
        raise InvalidArgument(f"security profile {config.security_profile} needs the upstream password (Basic Auth)")
    if config.security_profile == 3 and not (config.client_cert_file and config.client_key_file):
        raise InvalidArgument("security profile 3 needs client_cert_file and client_key_file (PEM paths)")
    if config.station_id is not None and not (0 < len(config.station_id) <= 48 and config.station_id.isprintable()):
        raise InvalidArgument("upstream station_id must be 1 to 48 printable characters")
    return config


class UpstreamService:
    def __init__(self, *, store: Store[UpstreamUnit], clock: Clock, buffer_limit: int) -> None:
        self._store = store
        self._clock = clock
        self.buffer_limit = buffer_limit
        self.dropped: dict[StationId, int] = {}  # station -> messages dropped because its buffer was full

    async def configure(self, config: UpstreamCsms, *, actor: str) -> UpstreamCsms:
        stored = replace(check(config), updated_at=self._clock.now(), updated_by=actor)
        async with self._store.unit() as uow:
            await uow.upstream.put(config=stored)
        log.info(
            "upstream CSMS of %s %s set to %s (%s) by %s", config.scope, config.target, config.url, config.mode, actor
        )
        return stored

    async def get(self, *, scope: Scope, target: str) -> UpstreamCsms | None:
        async with self._store.unit() as uow:
            return await uow.upstream.get(scope=scope, target=target)

    async def remove(self, *, scope: Scope, target: str, actor: str) -> bool:
        async with self._store.unit() as uow:
            removed = await uow.upstream.delete(scope=scope, target=target)
        if removed:
            log.info("upstream CSMS of %s %s removed by %s", scope, target, actor)
        return removed

    async def for_station(self, *, station_id: StationId, site_id: SiteId | None) -> UpstreamCsms | None:
        """The station's own upstream, else its site's, else none."""
        async with self._store.unit() as uow:
            own = await uow.upstream.get(scope=Scope.STATION, target=station_id)
            if own is not None or site_id is None:
                return own
            return await uow.upstream.get(scope=Scope.SITE, target=str(site_id))

    async def hold(self, *, station_id: StationId, action: str, frame: str, answer: str) -> bool:
        """Keep a message for upstream until it is back; False (and counted) when the station's buffer is full."""
        async with self._store.unit() as uow:
            if await uow.upstream.buffered_count(station_id=station_id) >= self.buffer_limit:
                self.dropped[station_id] = self.dropped.get(station_id, 0) + 1
                log.warning("%s: upstream buffer full (%d); %s dropped", station_id, self.buffer_limit, action)
                return False
            await uow.upstream.buffer(
                station_id=station_id, action=action, frame=frame, answer=answer, at=self._clock.now()
            )
        return True

    async def held(self, *, station_id: StationId, limit: int = 100) -> list[BufferedMessage]:
        async with self._store.unit() as uow:
            return await uow.upstream.buffered(station_id=station_id, limit=limit)

    async def held_count(self, *, station_id: StationId) -> int:
        async with self._store.unit() as uow:
            return await uow.upstream.buffered_count(station_id=station_id)

    async def delivered(self, *, ids: Sequence[int]) -> None:
        async with self._store.unit() as uow:
            await uow.upstream.unbuffer(ids=ids)
