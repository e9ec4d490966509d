"""The core's services bundled for the edges (gateway, API, CLI)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from evscada.core.access.audit import Auditor, AuditService
from evscada.core.access.logins import LoginBackOff, LoginService
from evscada.core.access.sites import SiteService
from evscada.core.access.users import AccessService
from evscada.core.access.vehicles import VehicleService
from evscada.core.alarms.service import AlarmService
from evscada.core.certificates.authority import CertificateAuthority
from evscada.core.certificates.model import CertificateConfig
from evscada.core.certificates.security_profiles import SecurityProfileService
from evscada.core.certificates.service import CertificateService, OcspFetch
from evscada.core.charging.authorization import AuthorizationService
from evscada.core.charging.local_lists import LocalListService
from evscada.core.charging.meter_values import MeterValueService
from evscada.core.charging.queries import QueryService
from evscada.core.charging.reservations import ReservationService
from evscada.core.charging.transactions import TransactionService
from evscada.core.control.commands import CommandService, StationCommander
from evscada.core.energy.layout import ElectricalLayout
from evscada.core.energy.reports import ChargingReportService
from evscada.core.energy.service import ChargingProfileService
from evscada.core.files.service import FileConfig, FileService
from evscada.core.files.store import FileStore, MissingFileStore
from evscada.core.firmware.campaigns import CampaignService
from evscada.core.firmware.service import FirmwareConfig, FirmwareService
from evscada.core.historian.availability import AvailabilityService
from evscada.core.historian.monitoring import MonitoringService
from evscada.core.historian.samples import HistorianConfig, HistorianService
from evscada.core.notifications.webhooks import WebhookService
from evscada.core.ports import Clock, EventBus, PasswordHasher
from evscada.core.reports.pdf import render_pdf
from evscada.core.reports.service import ReportConfig, ReportService
from evscada.core.reports.xlsx import render_xlsx
from evscada.core.stations.device_model import DeviceModelService
from evscada.core.stations.frame_log import FrameLogService
from evscada.core.stations.messages import StationMessageService
from evscada.core.stations.service import StationService
from evscada.core.store import CoreStore
from evscada.core.upstream.service import UpstreamService


@dataclass(frozen=True, slots=True)
class CoreConfig:
    heartbeat_interval: int = 300
    register_unknown_stations: bool = False
    upstream_buffer_limit: int = 10_000  # OCPP proxy: messages held per station while its upstream is away
    allow_concurrent_transactions: bool = False
    accepted_data_transfer_vendors: frozenset[str] = frozenset()
    historian: HistorianConfig = field(default_factory=HistorianConfig)
    login_backoff: LoginBackOff = field(default_factory=LoginBackOff)
    operator_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))  # vehicles' daily departures are in it
    files: FileConfig = field(default_factory=FileConfig)
    certificates: CertificateConfig = field(default_factory=CertificateConfig)
    reports: ReportConfig = field(default_factory=ReportConfig)
    firmware: FirmwareConfig = field(default_factory=FirmwareConfig)


@dataclass(frozen=True, slots=True)
class Core:
    stations: StationService
    authorization: AuthorizationService
    transactions: TransactionService
    meter_values: MeterValueService
    messages: StationMessageService
    commands: CommandService
    access: AccessService
    queries: QueryService
    sites: SiteService
    vehicles: VehicleService
    clock: Clock
    historian: HistorianService
    availability: AvailabilityService
    webhooks: WebhookService
    alarms: AlarmService
    local_lists: LocalListService
    reservations: ReservationService
    device_model: DeviceModelService
    logins: LoginService
    monitoring: MonitoringService
    frame_log: FrameLogService
    upstream: UpstreamService  # OCPP proxy configuration and buffer
    audit: AuditService
    charging_profiles: ChargingProfileService
    charging_reports: ChargingReportService
    layout: ElectricalLayout
    files: FileService
    reports: ReportService
    certificates: CertificateService
    security_profiles: SecurityProfileService
    firmware: FirmwareService
    firmware_campaigns: CampaignService

    @classmethod
    def build(
        cls,
        *,
        store: CoreStore,
        bus: EventBus,
        clock: Clock,
        hasher: PasswordHasher,
        commander: StationCommander,
        config: CoreConfig,
        file_store: FileStore | None = None,  # None: no station files in this process (CLI tools)
        # None: no CA in this process (CLI tools); a callable loads or makes it on first use.
        authority: CertificateAuthority | Callable[[], CertificateAuthority] | None = None,
        ocsp_fetch: OcspFetch | None = None,
    ) -> Core:
        audit = Auditor(clock=clock)
        authorization = AuthorizationService(
            store=store, clock=clock, allow_concurrent_transactions=config.allow_concurrent_transactions, audit=audit
        )
        commands = CommandService(store=store, bus=bus, clock=clock, commander=commander, audit=audit)
        alarms = AlarmService(store=store, bus=bus, clock=clock)
        firmware = FirmwareService(
            store=store,
            clock=clock,
            commands=commands,
            file_store=file_store if file_store is not None else MissingFileStore(),
            config=config.firmware,
            audit=audit,
        )
        upstream = UpstreamService(store=store, clock=clock, bus=bus, buffer_limit=config.upstream_buffer_limit)
        return cls(
            stations=StationService(
                store=store,
                bus=bus,
                clock=clock,
                hasher=hasher,
                heartbeat_interval=config.heartbeat_interval,
                register_unknown=config.register_unknown_stations,
                audit=audit,
            ),
            authorization=authorization,
            transactions=TransactionService(store=store, bus=bus, clock=clock, authorization=authorization),
            meter_values=MeterValueService(store=store, bus=bus, clock=clock),
            messages=StationMessageService(
                store=store, bus=bus, clock=clock, accepted_data_transfer_vendors=config.accepted_data_transfer_vendors
            ),
            commands=commands,
            access=AccessService(store=store, clock=clock, hasher=hasher, audit=audit),
            queries=QueryService(store=store, clock=clock),
            sites=SiteService(store=store, audit=audit, station_moved=upstream.station_moved),
            vehicles=VehicleService(store=store, audit=audit, clock=clock, zone=config.operator_zone),
            clock=clock,
            historian=HistorianService(store=store, clock=clock, config=config.historian),
            availability=AvailabilityService(store=store, clock=clock),
            webhooks=WebhookService(store=store, clock=clock),
            alarms=alarms,
            local_lists=LocalListService(store=store, clock=clock, commands=commands),
            reservations=ReservationService(store=store, clock=clock, commands=commands),
            device_model=DeviceModelService(store=store, clock=clock),
            logins=LoginService(store=store, clock=clock, hasher=hasher, bus=bus, backoff=config.login_backoff),
            monitoring=MonitoringService(store=store, clock=clock),
            frame_log=FrameLogService(store=store, clock=clock),
            upstream=upstream,
            audit=AuditService(store=store),
            charging_profiles=ChargingProfileService(store=store, clock=clock, commands=commands),
            charging_reports=ChargingReportService(store=store, bus=bus, clock=clock),
            layout=ElectricalLayout(store=store, clock=clock, audit=audit),
            files=FileService(
                store=store,
                clock=clock,
                commands=commands,
                file_store=file_store if file_store is not None else MissingFileStore(),
                config=config.files,
                audit=audit,
            ),
            reports=ReportService(
                store=store,
                clock=clock,
                file_store=file_store if file_store is not None else MissingFileStore(),
                config=config.reports,
                renderers={
                    "xlsx": functools.partial(render_xlsx, session_rows=config.reports.session_rows),
                    "pdf": render_pdf,
                },
            ),
            certificates=CertificateService(
                store=store,
                clock=clock,
                commands=commands,
                alarms=alarms,
                config=config.certificates,
                authority=authority,
                ocsp_fetch=ocsp_fetch,
                audit=audit,
            ),
            security_profiles=SecurityProfileService(
                store=store, clock=clock, hasher=hasher, commands=commands, audit=audit
            ),
            firmware=firmware,
            firmware_campaigns=CampaignService(
                store=store, clock=clock, firmware=firmware, zone=config.operator_zone, audit=audit
            ),
        )
