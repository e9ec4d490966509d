"""The part of the core a station's messages reach: the gateway is handed this, never the whole core."""

from __future__ import annotations

from dataclasses import dataclass

from evscada.core.charging.authorization import AuthorizationService
from evscada.core.charging.meter_values import MeterValueService
from evscada.core.charging.reservations import ReservationService
from evscada.core.charging.transactions import TransactionService
from evscada.core.energy.reports import ChargingReportService
from evscada.core.files.service import FileService
from evscada.core.ports import Clock
from evscada.core.services import Core
from evscada.core.stations.device_model import DeviceModelService
from evscada.core.stations.messages import StationMessageService
from evscada.core.stations.service import StationService


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
        )
