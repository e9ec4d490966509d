"""Upstream CSMS per station or per site (docs/adr/0011-ocpp-proxy-to-an-upstream-csms.md).

The core keeps what the proxy needs to survive a restart or an outage: who the upstream is, how to log in (the
password sealed at rest), who answers the station, which upstream commands may reach it, the transaction messages
upstream has not had yet (written before the station is answered) and the OCPP 1.6 transaction id map. It also
tells the gateway when a configuration changes and keeps what the gateway's links report for health.
The gateway (gateway/upstream) does the talking."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from evscada.core import events
from evscada.core.errors import InvalidArgument
from evscada.core.model import SiteId, StationId
from evscada.core.ports import Clock, EventBus, Store
from evscada.core.stations.repositories import StationRepository

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
    ca_file: str | None = None  # wss: a PEM bundle trusted for upstream's certificate besides the system store
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


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """One message to keep for upstream, as the batch writer takes it."""

    station_id: StationId
    action: str
    frame: str
    answer: str
    at: datetime


class SecretBox(Protocol):
    """Seals the upstream passwords at rest (security/secret_box.py); `open` reads a legacy plain value as is."""

    async def seal(self, plain: str) -> str: ...

    async def open(self, stored: str) -> tuple[str, bool]:
        """(the plain text, whether it was stored sealed)."""
        ...

    async def reseal(self, stored: str) -> str:
        """The value sealed with the current key (after a new key was added)."""
        ...


class PlainBox:
    """No sealing (tests and tools without a key file)."""

    async def seal(self, plain: str) -> str:
        return plain

    async def open(self, stored: str) -> tuple[str, bool]:
        return stored, True

    async def reseal(self, stored: str) -> str:
        return stored


@dataclass(slots=True)
class LinkHealth:
    """What a running link reports: read by /api/v1/health."""

    station_id: StationId
    url: str
    connected: bool = False
    since: datetime | None = None  # when it connected, or when it lost (or never had) its connection
    last_error: str | None = None


class UpstreamRepository(Protocol):
    async def get(self, *, scope: Scope, target: str) -> UpstreamCsms | None: ...

    async def all(self) -> list[UpstreamCsms]: ...

    async def put(self, *, config: UpstreamCsms) -> None: ...

    async def delete(self, *, scope: Scope, target: str) -> bool: ...

    async def buffer(self, *, station_id: StationId, action: str, frame: str, answer: str, at: datetime) -> None: ...

    async def buffered(self, *, station_id: StationId, limit: int, after: int = 0) -> list[BufferedMessage]:
        """Oldest first, with ids above `after`."""
        ...

    async def buffered_count(self, *, station_id: StationId) -> int: ...

    async def discard_buffered(self, *, station_ids: Sequence[StationId]) -> int:
        """Delete every held message of these stations; returns how many."""
        ...

    async def unbuffer(self, *, ids: Sequence[int]) -> None: ...

    async def buffer_many(self, *, messages: Sequence[HeldMessage]) -> list[int]:
        """Ids in the order given."""
        ...

    async def put_password(self, *, scope: Scope, target: str, password: str | None) -> None: ...

    async def replace_password(self, *, scope: Scope, target: str, old: str, new: str) -> bool:
        """Only while the stored value is still `old`: False when it changed meanwhile."""
        ...

    async def map_transaction(self, *, station_id: StationId, ours: int, theirs: int, at: datetime) -> None: ...

    async def transaction_map(self, *, station_id: StationId) -> dict[int, int]: ...

    async def unmap_transaction(self, *, station_id: StationId, ours: int) -> None: ...


class UpstreamUnit(Protocol):
    upstream: UpstreamRepository
    stations: StationRepository  # which stations a site's upstream serves


def _destination(config: UpstreamCsms | None, station_id: StationId) -> tuple[str, str] | None:
    """Where a station's messages go: the upstream's URL and the station's id there."""
    return None if config is None else (config.url, config.upstream_id(station_id))


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


ConfigListener = Callable[[Scope, str], Awaitable[None]]


class UpstreamService:
    def __init__(
        self,
        *,
        store: Store[UpstreamUnit],
        clock: Clock,
        buffer_limit: int,
        secrets: SecretBox | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._bus = bus
        self.buffer_limit = buffer_limit
        self.secrets: SecretBox = PlainBox() if secrets is None else secrets  # the app sets the key-file one
        self.dropped: dict[StationId, int] = {}  # station -> messages dropped because its buffer was full
        self.discarded = 0  # held messages discarded because their station's upstream changed or was removed
        self.links: dict[StationId, LinkHealth] = {}  # the gateway's running links in this process
        self._listeners: list[ConfigListener] = []
        self._held: dict[StationId, int] = {}  # rows in the buffer per station, counted once, then kept up to date
        self._writes: list[tuple[HeldMessage, asyncio.Future[int | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    # --- configuration ----------------------------------------------------------------------------------------

    def on_change(self, listener: ConfigListener) -> None:
        """The gateway re-links the stations a configuration change touches, at once."""
        self._listeners.append(listener)

    async def _changed(self, scope: Scope, target: str) -> None:
        if self._bus is not None:  # other processes of a cluster hear it (ADR 12)
            station = StationId(target) if scope is Scope.STATION else StationId("")
            self._bus.publish(
                events.UpstreamConfigChanged(station_id=station, at=self._clock.now(), scope=scope.value, target=target)
            )
        for listener in self._listeners:
            try:
                await listener(scope, target)
            except Exception:  # the change is stored; the station picks it up at its next connection at worst
                log.exception("applying the upstream change of %s %s failed", scope, target)

    async def configure(self, config: UpstreamCsms, *, actor: str) -> UpstreamCsms:
        stored = replace(check(config), updated_at=self._clock.now(), updated_by=actor)
        sealed = None if stored.password is None else await self.secrets.seal(stored.password)
        async with self._store.unit() as uow:
            affected = await self._served(uow, config.scope, config.target)
            await uow.upstream.put(config=replace(stored, password=sealed))
            await self._discard_orphans(uow, affected, actor)
        log.info(
            "upstream CSMS of %s %s set to %s (%s) by %s", config.scope, config.target, config.url, config.mode, actor
        )
        await self._changed(config.scope, config.target)
        return stored

    async def station_moved(self, station_id: StationId, before: SiteId | None, after: SiteId | None) -> None:
        """A station changed site: a connected one is linked to its new site's upstream (or none) at once; what was
        held for its old site's upstream is discarded when the new one is another CSMS."""
        async with self._store.unit() as uow:
            if await uow.upstream.get(scope=Scope.STATION, target=station_id) is None:
                old = None if before is None else await uow.upstream.get(scope=Scope.SITE, target=str(before))
                new = None if after is None else await uow.upstream.get(scope=Scope.SITE, target=str(after))
                if _destination(old, station_id) != _destination(new, station_id):
                    await self._discard(uow, [station_id], "moved to another site")
        await self._changed(Scope.STATION, station_id)

    async def _served(self, uow: UpstreamUnit, scope: Scope, target: str) -> dict[StationId, UpstreamCsms | None]:
        """The stations whose upstream a change of this configuration decides, each with its upstream until now."""
        if scope is Scope.STATION:
            station_id = StationId(target)
            own = await uow.upstream.get(scope=scope, target=target)
            if own is None:
                station = await uow.stations.get(station_id=station_id)
                site = None if station is None else station.site_id
                own = None if site is None else await uow.upstream.get(scope=Scope.SITE, target=str(site))
            return {station_id: own}
        site_config = await uow.upstream.get(scope=scope, target=target)
        with_own = {config.target for config in await uow.upstream.all() if config.scope is Scope.STATION}
        return {
            station.id: site_config
            for station in await uow.stations.list()
            if str(station.site_id) == target and station.id not in with_own
        }

    async def _discard_orphans(
        self, uow: UpstreamUnit, before: dict[StationId, UpstreamCsms | None], actor: str
    ) -> None:
        """Messages held for an upstream a station no longer has would reach the wrong CSMS: discard them."""
        orphaned = []
        for station_id, old in before.items():
            (new,) = (await self._served(uow, Scope.STATION, station_id)).values()
            if old is not None and _destination(old, station_id) != _destination(new, station_id):
                orphaned.append(station_id)
        if orphaned:
            await self._discard(uow, orphaned, f"its upstream changed (by {actor})")

    async def _discard(self, uow: UpstreamUnit, station_ids: list[StationId], why: str) -> None:
        discarded = await uow.upstream.discard_buffered(station_ids=station_ids)
        for station_id in station_ids:
            self._held.pop(station_id, None)  # counted again at the next message
        if discarded:
            self.discarded += discarded
            log.warning(
                "%d message(s) held for the previous upstream of %s discarded: %s",
                discarded,
                ", ".join(station_ids[:10]) + (" ..." if len(station_ids) > 10 else ""),
                why,
            )

    async def get(self, *, scope: Scope, target: str) -> UpstreamCsms | None:
        """As stored: the password stays sealed (the API only says whether there is one)."""
        async with self._store.unit() as uow:
            return await uow.upstream.get(scope=scope, target=target)

    async def remove(self, *, scope: Scope, target: str, actor: str) -> bool:
        async with self._store.unit() as uow:
            affected = await self._served(uow, scope, target)
            removed = await uow.upstream.delete(scope=scope, target=target)
            if removed:
                await self._discard_orphans(uow, affected, actor)
        if removed:
            log.info("upstream CSMS of %s %s removed by %s", scope, target, actor)
            await self._changed(scope, target)
        return removed

    async def reseal_passwords(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Seal every stored upstream password again with the key file's first key (after `evscada upstream-key
        rotate` put a new one there); returns how many were sealed again. One row at a time: a failure leaves the
        rest as they were, each still opening with the keys in the file."""
        async with self._store.unit() as uow:
            configs = [config for config in await uow.upstream.all() if config.password is not None]
        for done, config in enumerate(configs, start=1):
            assert config.password is not None
            sealed = await self.secrets.reseal(config.password)
            async with self._store.unit() as uow:  # a password set meanwhile is sealed with the new key already
                await uow.upstream.replace_password(
                    scope=config.scope, target=config.target, old=config.password, new=sealed
                )
            if progress is not None:
                progress(done, len(configs))
        return len(configs)

    async def for_station(self, *, station_id: StationId, site_id: SiteId | None) -> UpstreamCsms | None:
        """The station's own upstream, else its site's, else none."""
        async with self._store.unit() as uow:
            own = await uow.upstream.get(scope=Scope.STATION, target=station_id)
            if own is not None or site_id is None:
                return await self._opened(uow, own)
            return await self._opened(uow, await uow.upstream.get(scope=Scope.SITE, target=str(site_id)))

    async def _opened(self, uow: UpstreamUnit, config: UpstreamCsms | None) -> UpstreamCsms | None:
        """The configuration with its password in clear; a plain one left by an older evscada is sealed now."""
        if config is None or config.password is None:
            return config
        plain, was_sealed = await self.secrets.open(config.password)
        if not was_sealed:
            sealed = await self.secrets.seal(plain)
            if sealed != config.password:
                await uow.upstream.put_password(scope=config.scope, target=config.target, password=sealed)
                log.info("upstream password of %s %s sealed at rest", config.scope, config.target)
        return replace(config, password=plain)

    # --- the durable buffer -----------------------------------------------------------------------------------

    async def hold(self, *, station_id: StationId, action: str, frame: str, answer: str) -> bool:
        """Keep a message for upstream until it has it; False (and counted) when the station's buffer is full."""
        return await self.keep(station_id=station_id, action=action, frame=frame, answer=answer) is not None

    async def keep(self, *, station_id: StationId, action: str, frame: str, answer: str) -> int | None:
        """Write a message to the buffer and return its row id once committed; None when the buffer is full.

        Messages of all stations arriving while a write is under way go together in the next one (group commit):
        one transaction for many messages when many stations talk at once."""
        if await self._count(station_id) >= self.buffer_limit:
            self.dropped[station_id] = self.dropped.get(station_id, 0) + 1
            log.warning("%s: upstream buffer full (%d); %s dropped", station_id, self.buffer_limit, action)
            return None
        self._held[station_id] += 1  # reserved now: the bound holds for messages waiting in the batch too
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._writes.append((HeldMessage(station_id, action, frame, answer, self._clock.now()), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches(), name="upstream-buffer-writer")
        return await asyncio.shield(future)

    async def _write_batches(self) -> None:
        while self._writes:
            batch, self._writes = self._writes, []
            try:
                async with self._store.unit() as uow:
                    ids = await uow.upstream.buffer_many(messages=[message for message, _ in batch])
            except Exception as exc:
                for message, future in batch:
                    self._held[message.station_id] -= 1
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), row_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(row_id)

    async def _count(self, station_id: StationId) -> int:
        if station_id not in self._held:
            async with self._store.unit() as uow:
                count = await uow.upstream.buffered_count(station_id=station_id)
            self._held.setdefault(station_id, count)
        return self._held[station_id]

    async def held(self, *, station_id: StationId, limit: int = 100, after: int = 0) -> list[BufferedMessage]:
        async with self._store.unit() as uow:
            return await uow.upstream.buffered(station_id=station_id, limit=limit, after=after)

    async def held_count(self, *, station_id: StationId) -> int:
        async with self._store.unit() as uow:
            return await uow.upstream.buffered_count(station_id=station_id)

    def held_now(self, station_id: StationId) -> int:
        """Without a query: the count this process keeps (0 before the station's first message)."""
        return self._held.get(station_id, 0)

    async def delivered(self, *, ids: Sequence[int], station_id: StationId | None = None) -> None:
        if not ids:
            return
        async with self._store.unit() as uow:
            await uow.upstream.unbuffer(ids=ids)
        if station_id is not None and station_id in self._held:
            self._held[station_id] = max(0, self._held[station_id] - len(ids))
        elif station_id is None:
            self._held.clear()  # unknown whose: counted again on next use

    # --- OCPP 1.6 transaction ids -----------------------------------------------------------------------------

    async def map_transaction(self, *, station_id: StationId, ours: int, theirs: int) -> None:
        async with self._store.unit() as uow:
            await uow.upstream.map_transaction(station_id=station_id, ours=ours, theirs=theirs, at=self._clock.now())

    async def transaction_map(self, *, station_id: StationId) -> dict[int, int]:
        async with self._store.unit() as uow:
            return await uow.upstream.transaction_map(station_id=station_id)

    async def unmap_transaction(self, *, station_id: StationId, ours: int) -> None:
        async with self._store.unit() as uow:
            await uow.upstream.unmap_transaction(station_id=station_id, ours=ours)

    # --- health -----------------------------------------------------------------------------------------------

    def health(self, *, list_limit: int = 20) -> dict[str, Any]:
        """Totals over this process's links, and the first `list_limit` that are not connected."""
        links = sorted(self.links.values(), key=lambda h: h.station_id)
        down = [h for h in links if not h.connected]
        return {
            "links": len(links),
            "connected": len(links) - len(down),
            "held": sum(self._held.get(h.station_id, 0) for h in links),
            "dropped": sum(self.dropped.values()),
            "discarded": self.discarded,
            "not_connected": [
                {
                    "station_id": h.station_id,
                    "url": h.url,
                    "since": h.since.isoformat() if h.since else None,
                    "held": self._held.get(h.station_id, 0),
                    "last_error": h.last_error,
                }
                for h in down[:list_limit]
            ],
        }
