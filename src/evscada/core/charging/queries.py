"""Read models for the API and the console: what an operator or a billing system looks at."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from evscada.core.access.sites import SiteRepository
from evscada.core.errors import InvalidCursor, NotFound
from evscada.core.model import (
    MeterSample,
    Site,
    SiteId,
    Station,
    StationId,
    Transaction,
    TransactionPk,
    TransactionState,
    VehicleId,
)
from evscada.core.ports import Clock, Store
from evscada.core.stations.repositories import StationRepository

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ConnectorView:
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    status_at: datetime


@dataclass(frozen=True, slots=True)
class StationView:
    station: Station
    connectors: list[ConnectorView]
    site: Site | None = None


@dataclass(frozen=True, slots=True)
class StationFilter:
    status: str | None = None  # a connector of the station is in this state (Charging, Faulted ...)
    online: bool | None = None
    site_id: SiteId | None = None
    model: str | None = None
    search: str | None = None  # a substring of the id, name, vendor or serial number, any case


@dataclass(frozen=True, slots=True)
class TransactionFilter:
    station_id: StationId | None = None
    state: TransactionState | None = None
    id_token: str | None = None
    started_since: datetime | None = None
    started_until: datetime | None = None
    limit: int = 100
    offset: int = 0
    station_ids: tuple[StationId, ...] | None = None  # any of these (e.g. a site's stations)
    site_id: SiteId | None = None  # sessions at the stations of this site (now)
    vehicle_id: VehicleId | None = None


@dataclass(frozen=True, slots=True)
class CommandLogView:
    id: int
    station_id: str
    command: str
    arguments: dict[str, Any]
    actor: str
    reason: str | None
    requested_at: datetime
    finished_at: datetime | None
    outcome: str | None
    status: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ExportCursor:
    """Where a billing system left off: the last (updated_at, id) it received, as an opaque, URL-safe token
    (base64url of microseconds since the epoch and id), so a shell can paste it into a query string as it is."""

    updated_at: datetime
    pk: int

    def encode(self) -> str:
        micros = (self.updated_at - _EPOCH) // timedelta(microseconds=1)
        return base64.urlsafe_b64encode(f"{micros}.{self.pk}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ExportCursor:
        try:
            if "~" in text:
                cursor = cls._decode_iso(text)
            else:
                micros, pk = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().split(".")
                cursor = cls(updated_at=_EPOCH + timedelta(microseconds=int(micros)), pk=int(pk))
            if not 0 <= cursor.pk < 2**63:
                raise ValueError("id out of range")
            return cursor
        except (ValueError, OverflowError):
            raise InvalidCursor(f"{text!r} is not a cursor from a previous export (X-Next-Cursor)") from None

    @classmethod
    def _decode_iso(cls, text: str) -> ExportCursor:
        """The readable cursors of earlier versions, '<ISO time>~<id>'; a '+' pasted into a URL arrives as ' '."""
        stamp, _, pk = text.replace(" ", "+").rpartition("~")
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None:
            raise ValueError("no time zone")
        return cls(updated_at=at, pk=int(pk))


@dataclass(frozen=True, slots=True)
class Totals:
    """What the whole system holds now, for a one-line summary (the demo prints one)."""

    stations_online: int
    transactions_running: int
    transactions_ended: int
    meter_samples: int


class ReadRepository(Protocol):
    async def connectors(self, *, station_ids: list[StationId]) -> dict[StationId, list[ConnectorView]]: ...

    async def transactions(self, *, where: TransactionFilter) -> list[Transaction]: ...

    async def transaction(self, *, pk: TransactionPk) -> Transaction | None: ...

    async def samples(self, *, transaction_pk: TransactionPk) -> list[MeterSample]: ...

    async def commands(self, *, station_id: StationId | None, limit: int) -> list[CommandLogView]: ...

    async def changed_transactions(
        self, *, after: ExportCursor | None, settled_before: datetime, state: TransactionState | None, limit: int
    ) -> list[Transaction]: ...

    async def command_outcomes(self) -> list[tuple[str, str, int]]:
        """(command, outcome, count) over the whole command log."""
        ...

    async def ping(self) -> None:
        """The smallest round trip to the database."""
        ...

    async def totals(self) -> Totals: ...

    async def stations(self, *, where: StationFilter) -> list[Station]:
        """The stations that pass the filter, in id order."""
        ...


class QueryUnit(Protocol):
    reads: ReadRepository
    stations: StationRepository
    sites: SiteRepository


class QueryService:
    def __init__(self, *, store: Store[QueryUnit], clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def stations(self, *, where: StationFilter | None = None) -> list[StationView]:
        async with self._store.unit() as uow:
            stations = await uow.reads.stations(where=where or StationFilter())
            connectors = await uow.reads.connectors(station_ids=[s.id for s in stations])
            sites = {site.id: site for site in await uow.sites.list()} if any(s.site_id for s in stations) else {}
        return [
            StationView(
                station=s,
                connectors=connectors.get(s.id, []),
                site=sites.get(s.site_id) if s.site_id is not None else None,
            )
            for s in stations
        ]

    async def station(self, *, station_id: StationId) -> StationView:
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
            if station is None:
                raise NotFound(f"no station {station_id}")
            connectors = await uow.reads.connectors(station_ids=[station_id])
            site = await uow.sites.get(site_id=station.site_id) if station.site_id is not None else None
        return StationView(station=station, connectors=connectors.get(station_id, []), site=site)

    async def transactions(self, *, where: TransactionFilter) -> list[Transaction]:
        async with self._store.unit() as uow:
            return await uow.reads.transactions(where=where)

    async def transaction(self, *, pk: TransactionPk) -> tuple[Transaction, list[MeterSample]]:
        async with self._store.unit() as uow:
            transaction = await uow.reads.transaction(pk=pk)
            if transaction is None:
                raise NotFound(f"no transaction {pk}")
            return transaction, await uow.reads.samples(transaction_pk=pk)

    async def export(
        self, *, after: ExportCursor | None, settle_seconds: float, state: TransactionState | None, limit: int
    ) -> tuple[list[Transaction], ExportCursor | None]:
        """Transactions changed since the cursor, oldest change first, and the cursor to ask with next.

        Only changes older than `settle_seconds` are returned: a change whose database transaction is still open
        has an earlier timestamp than changes already committed, and would otherwise be skipped for good.
        """
        settled_before = self._clock.now() - timedelta(seconds=settle_seconds)
        async with self._store.unit() as uow:
            rows = await uow.reads.changed_transactions(
                after=after, settled_before=settled_before, state=state, limit=limit
            )
        if not rows:
            return rows, after
        last = rows[-1]
        assert last.updated_at is not None
        return rows, ExportCursor(updated_at=last.updated_at, pk=last.pk)

    async def command_outcomes(self) -> list[tuple[str, str, int]]:
        async with self._store.unit() as uow:
            return await uow.reads.command_outcomes()

    async def database_latency(self) -> float:
        """Seconds for one trivial query; raises when the database does not answer."""
        started = time.perf_counter()
        async with self._store.unit() as uow:
            await uow.reads.ping()
        return time.perf_counter() - started

    async def totals(self) -> Totals:
        async with self._store.unit() as uow:
            return await uow.reads.totals()

    async def commands(self, *, station_id: StationId | None = None, limit: int = 100) -> list[CommandLogView]:
        async with self._store.unit() as uow:
            return await uow.reads.commands(station_id=station_id, limit=limit)
