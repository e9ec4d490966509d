"""The whole store that storage implements: every capability's repositories in one unit of work, and the sinks that
group writes. Core.build hands it to each service, which names only the part it uses; edges that read across
capabilities (the integrations) take it whole."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from evscada.core.access.audit import AuditRepository
from evscada.core.access.sites import SiteRepository
from evscada.core.access.users import UserRepository, WebSessionRepository
from evscada.core.access.vehicles import VehicleRepository
from evscada.core.alarms.service import AlarmRepository
from evscada.core.certificates.security_profiles import CertificateRecords
from evscada.core.charging.local_lists import LocalListRepository
from evscada.core.charging.queries import ReadRepository
from evscada.core.charging.repositories import (
    MeterSampleRepository,
    MeterSampleSink,
    TokenRepository,
    TransactionRepository,
)
from evscada.core.charging.reservations import ReservationRepository
from evscada.core.control.commands import CommandLogRepository
from evscada.core.energy.layout import FeederRepository
from evscada.core.energy.reports import ChargingReportRepository
from evscada.core.energy.service import ChargingProfileRepository
from evscada.core.energy.site_limits import SiteLimitRepository
from evscada.core.files.service import FileRepository
from evscada.core.firmware.service import FirmwareRepository
from evscada.core.historian.availability import AvailabilityRepository
from evscada.core.historian.monitoring import MonitoringReads
from evscada.core.historian.samples import HistorianRepository
from evscada.core.model import StationId
from evscada.core.notifications.deliveries import DeliveryRepository
from evscada.core.notifications.webhooks import OutboxRepository, WebhookRepository
from evscada.core.ports import Store
from evscada.core.reports.service import ReportReads, ReportRepository
from evscada.core.stations.device_model import DeviceModelRepository
from evscada.core.stations.frame_log import FrameLogRepository
from evscada.core.stations.repositories import StationMessageRepository, StationRepository, StationStateSink
from evscada.core.upstream.service import UpstreamRepository


class UnitOfWork(Protocol):
    """Every repository, bound to one database transaction."""

    stations: StationRepository
    messages: StationMessageRepository
    device_model: DeviceModelRepository
    frame_log: FrameLogRepository
    upstream: UpstreamRepository
    tokens: TokenRepository
    transactions: TransactionRepository
    meter_samples: MeterSampleRepository
    reads: ReadRepository
    local_lists: LocalListRepository
    reservations: ReservationRepository
    commands: CommandLogRepository
    users: UserRepository
    web_sessions: WebSessionRepository
    sites: SiteRepository
    vehicles: VehicleRepository
    audit: AuditRepository
    historian: HistorianRepository
    availability: AvailabilityRepository
    monitoring: MonitoringReads
    alarms: AlarmRepository
    outbox: OutboxRepository
    webhooks: WebhookRepository
    deliveries: DeliveryRepository
    charging_profiles: ChargingProfileRepository
    charging_reports: ChargingReportRepository
    site_limits: SiteLimitRepository
    feeders: FeederRepository
    files: FileRepository
    reports: ReportRepository
    report_reads: ReportReads
    certificates: CertificateRecords
    firmware: FirmwareRepository


class CoreStore(Store[UnitOfWork], Protocol):
    @property
    def meter_samples(self) -> MeterSampleSink: ...

    @property
    def station_state(self) -> StationStateSink: ...

    async def touch_stations(self, *, last_seen: Mapping[StationId, datetime]) -> None:
        """Write many stations' last-seen times in one go (kept in memory between flushes)."""
        ...
