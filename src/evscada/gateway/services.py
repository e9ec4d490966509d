"""The part of the core a station's messages reach: the gateway is handed this, never the whole core."""

from __future__ import annotations

from dataclasses import dataclass

from evscada.core.certificates.security_profiles import SecurityProfileService
from evscada.core.certificates.service import CertificateService
from evscada.core.charging.authorization import AuthorizationService
from evscada.core.charging.meter_values import MeterValueService
from evscada.core.charging.reservations import ReservationService
from evscada.core.charging.transactions import TransactionService
from evscada.core.energy.reports import ChargingReportService
from evscada.core.files.service import FileService
from evscada.core.firmware.service import FirmwareService
from evscada.core.ports import Clock
from evscada.core.services import Core
from evscada.core.stations.device_model import DeviceModelService
from evscada.core.stations.messages import StationMessageService
from evscada.core.stations.service import StationService
from evscada.core.upstream.service import UpstreamService


@dataclass(frozen=True, slots=True)
class StationServices:
    """What the listener, the sessions and the version handlers call; a handler needing more shows up here."""

    clock: Clock
    stations: StationService  # admission, connect/disconnect, boot, connector status
    authorization: AuthorizationService
    transactions: TransactionService
    meter_values: MeterValueService
    messages: StationMessageService  # station reports kept as records (DataTransfer, status notifications ...)
    device_model: DeviceModelService  # 2.0.1 NotifyReport
    reservations: ReservationService  # 2.0.1 ReservationStatusUpdate
    charging_reports: ChargingReportService  # 2.0.1 ReportChargingProfiles, charging limits, EV charging needs
    files: FileService  # Diagnostics/LogStatusNotification move file requests
    certificates: CertificateService  # SignCertificate, 2.0.1 GetCertificateStatus
    security_profiles: SecurityProfileService  # admission accepts an upgrade's new credentials
    firmware: FirmwareService  # (Signed/Publish)FirmwareStatusNotification move firmware updates
    upstream: UpstreamService  # the OCPP proxy: a station's upstream CSMS and what it has not had yet

    @classmethod
    def of(cls, core: Core) -> StationServices:
        """The one place the gateway's share of the core is picked."""
        return cls(
            clock=core.clock,
            stations=core.stations,
            authorization=core.authorization,
            transactions=core.transactions,
            meter_values=core.meter_values,
            messages=core.messages,
            device_model=core.device_model,
            reservations=core.reservations,
            charging_reports=core.charging_reports,
            files=core.files,
            certificates=core.certificates,
            security_profiles=core.security_profiles,
            firmware=core.firmware,
            upstream=core.upstream,
        )
