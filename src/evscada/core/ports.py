"""What the core needs from the outside world, as Protocols; storage, bus and gateway implement them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from evscada.core.events import Event
from evscada.core.model import (
    BootInfo,
    EvseRef,
    MeterSample,
    RegistrationStatus,
    Station,
    StationId,
    StationMessage,
    StatusReport,
    Token,
    Transaction,
    TransactionPk,
)

if TYPE_CHECKING:
    from evscada.core.access.audit import AuditRepository
    from evscada.core.access.sites import SiteRepository
    from evscada.core.access.users import UserRepository, WebSessionRepository
    from evscada.core.access.vehicles import VehicleRepository
    from evscada.core.alarms.service import AlarmRepository
    from evscada.core.charging.local_lists import LocalListRepository
    from evscada.core.charging.queries import ReadRepository
    from evscada.core.charging.reservations import ReservationRepository
    from evscada.core.control.commands import CommandLogEntry, CommandOutcome
    from evscada.core.historian.availability import AvailabilityRepository
    from evscada.core.historian.monitoring import MonitoringReads
    from evscada.core.historian.samples import HistorianRepository
    from evscada.core.notifications.deliveries import DeliveryRepository
    from evscada.core.notifications.webhooks import OutboxRepository, WebhookRepository
    from evscada.core.stations.device_model import DeviceModelRepository
    from evscada.core.stations.frame_log import FrameLogRepository


class Clock(Protocol):
    def now(self) -> datetime: ...


class EventBus(Protocol):
    def publish(self, event: Event) -> None:
        """Hand an event to subscribers without waiting for them."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...


class StationRepository(Protocol):
    async def get(self, *, station_id: StationId) -> Station | None: ...

    async def add(self, *, station: Station) -> None: ...

    async def save(self, *, station: Station) -> None: ...

    async def list(self) -> list[Station]: ...

    async def delete(self, *, station_id: StationId) -> bool: ...


class TokenRepository(Protocol):
    async def get(self, *, value: str) -> Token | None: ...

    async def upsert(self, *, token: Token) -> None: ...

    async def list(self, *, limit: int, offset: int) -> list[Token]: ...

    async def delete(self, *, value: str) -> bool: ...


class TransactionRepository(Protocol):
    async def add(self, *, transaction: Transaction) -> Transaction:
        """Insert; assigns pk, and station_transaction_id = str(pk) when the station gave none (1.6)."""
        ...

    async def find(self, *, station_id: StationId, station_transaction_id: str) -> Transaction | None: ...

    async def find_start(
        self, *, station_id: StationId, evse: EvseRef, started_at: datetime, id_token: str | None
    ) -> Transaction | None: ...

    async def running_with_token(self, *, id_token: str) -> int: ...

    async def save(self, *, transaction: Transaction) -> None:
        """Write the record; storage stamps updated_at inside the write (the export cursor follows it)."""
        ...

    async def add_event(
        self,
        *,
        transaction_pk: TransactionPk,
        seq_no: int,
        event_type: str,
        trigger_reason: str | None,
        timestamp: datetime,
        received_at: datetime,
    ) -> bool:
        """Record one 2.0.1 event by its seqNo; False when that seqNo was already stored."""
        ...


class MeterSampleRepository(Protocol):
    async def add(
        self,
        *,
        station_id: StationId,
        evse: EvseRef,
        transaction_pk: TransactionPk | None,
        samples: Sequence[MeterSample],
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class MeterWrite:
    stored: bool  # False: the same message was stored before (a repeat)
    transaction_pk: TransactionPk | None


class MeterSampleSink(Protocol):
    """Where MeterValues go: writes may be grouped with other stations' into one commit, never skipped."""

    async def append(
        self,
        *,
        station_id: StationId,
        evse: EvseRef,
        station_transaction_id: str | None,
        samples: Sequence[MeterSample],
        message_key: str | None,
        at: datetime,
    ) -> MeterWrite: ...


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


class CommandLogRepository(Protocol):
    async def add(self, *, entry: CommandLogEntry) -> int: ...

    async def finish(self, *, outcome: CommandOutcome) -> None: ...

    async def accepted_remote_starts(
        self, *, station_id: StationId, since: datetime
    ) -> list[tuple[int, dict[str, Any]]]:
        """(id, arguments) of remote starts the station accepted since then that no transaction claims yet."""
        ...


class UnitOfWork(Protocol):
    """Repositories bound to one database transaction, committed when the context exits cleanly."""

    stations: StationRepository
    tokens: TokenRepository
    transactions: TransactionRepository
    meter_samples: MeterSampleRepository
    messages: StationMessageRepository
    commands: CommandLogRepository
    users: UserRepository
    reads: ReadRepository
    sites: SiteRepository
    vehicles: VehicleRepository
    historian: HistorianRepository
    availability: AvailabilityRepository
    outbox: OutboxRepository
    webhooks: WebhookRepository
    deliveries: DeliveryRepository
    alarms: AlarmRepository
    local_lists: LocalListRepository
    reservations: ReservationRepository
    device_model: DeviceModelRepository
    web_sessions: WebSessionRepository
    monitoring: MonitoringReads
    frame_log: FrameLogRepository
    audit: AuditRepository


class Store(Protocol):
    def unit(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    @property
    def meter_samples(self) -> MeterSampleSink: ...

    @property
    def station_state(self) -> StationStateSink: ...

    async def touch_stations(self, *, last_seen: Mapping[StationId, datetime]) -> None:
        """Write many stations' last-seen times in one go (kept in memory between flushes)."""
        ...
