"""A simulated station's configuration: one store, read as 1.6 keys or as 2.0.1 component variables."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Kind(enum.Enum):
    INTEGER = "integer"
    BOOLEAN = "boolean"
    TEXT = "text"


class Change(enum.StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"  # read-only, or a value of the wrong kind
    UNKNOWN = "Unknown"


@dataclass(slots=True)
class Setting:
    key: str | None  # the 1.6 key; None: 2.0.1 only
    component: str | None  # the 2.0.1 component and variable; None: 1.6 only
    variable: str | None
    value: str
    kind: Kind = Kind.TEXT
    readonly: bool = False
    secret: bool = False  # write-only (a password): changed, never read back or reported


def _seed(*, connectors: int, meter_interval: float, supply_phases: int) -> list[Setting]:
    interval = f"{meter_interval:g}"  # a fast demo samples more often than once a second
    rotation = "RST" if supply_phases == 3 else "NotApplicable"  # 1.6: single phase and DC have none
    return [
        Setting("HeartbeatInterval", "OCPPCommCtrlr", "HeartbeatInterval", "300", Kind.INTEGER),
        Setting("MeterValueSampleInterval", "SampledDataCtrlr", "TxUpdatedInterval", interval, Kind.INTEGER),
        Setting("ClockAlignedDataInterval", "AlignedDataCtrlr", "Interval", "0", Kind.INTEGER),
        Setting(
            "MeterValuesSampledData",
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
        ),
        Setting("NumberOfConnectors", None, None, str(connectors), Kind.INTEGER, readonly=True),
        Setting("ConnectorPhaseRotation", None, None, ",".join(f"{n}.{rotation}" for n in range(connectors + 1))),
        Setting(None, "ChargingStation", "SupplyPhases", str(supply_phases), Kind.INTEGER, readonly=True),  # 0: DC
        Setting("AuthorizeRemoteTxRequests", "AuthCtrlr", "AuthorizeRemoteStart", "false", Kind.BOOLEAN),
        Setting("LocalAuthListEnabled", "LocalAuthListCtrlr", "Enabled", "true", Kind.BOOLEAN),
        Setting("LocalAuthListMaxLength", "LocalAuthListCtrlr", "Entries", "1000", Kind.INTEGER, readonly=True),
        Setting("ConnectionTimeOut", "TxCtrlr", "EVConnectionTimeOut", "60", Kind.INTEGER),
        Setting("WebSocketPingInterval", "OCPPCommCtrlr", "WebSocketPingInterval", "0", Kind.INTEGER),
        Setting("ResetRetries", "OCPPCommCtrlr", "ResetRetries", "1", Kind.INTEGER),
        Setting("StopTransactionOnEVSideDisconnect", "TxCtrlr", "StopTxOnEVSideDisconnect", "true", Kind.BOOLEAN),
        Setting(
            "SupportedFeatureProfiles",
            None,
            None,
            "Core,FirmwareManagement,LocalAuthListManagement,Reservation,RemoteTrigger,SmartCharging",
            readonly=True,
        ),
        # Smart charging: what charging_limits.py honours.
        Setting("ChargeProfileMaxStackLevel", "SmartChargingCtrlr", "ProfileStackLevel", "8", Kind.INTEGER, True),
        Setting("ChargingScheduleAllowedChargingRateUnit", None, None, "Current,Power", readonly=True),
        Setting(None, "SmartChargingCtrlr", "RateUnit", "A,W", readonly=True),
        Setting("ChargingScheduleMaxPeriods", "SmartChargingCtrlr", "PeriodsPerSchedule", "24", Kind.INTEGER, True),
        Setting("MaxChargingProfilesInstalled", "SmartChargingCtrlr", "Entries", "16", Kind.INTEGER, readonly=True),
        Setting(None, "SmartChargingCtrlr", "Enabled", "true", Kind.BOOLEAN, readonly=True),
        # Security (1.6 security extension, 2.0.1 SecurityCtrlr): a new password takes effect at the next connection,
        # a new 1.6 SecurityProfile reconnects with it; the organisation is the O of the station's CSRs.
        Setting("SecurityProfile", "SecurityCtrlr", "SecurityProfile", "0", Kind.INTEGER),
        Setting("AuthorizationKey", "SecurityCtrlr", "BasicAuthPassword", "", secret=True),
        Setting("CpoName", "SecurityCtrlr", "OrganizationName", "evscada"),
        Setting(None, "OCPPCommCtrlr", "NetworkConfigurationPriority", "0"),
        Setting(None, "DeviceDataCtrlr", "ItemsPerMessage", "32", Kind.INTEGER, readonly=True),
    ]


def _valid(kind: Kind, value: str) -> bool:
    if kind is Kind.INTEGER:
        return value.strip().lstrip("-").replace(".", "", 1).isdigit()
    if kind is Kind.BOOLEAN:
        return value.lower() in ("true", "false")
    return True


class Configuration:
    def __init__(self, *, connectors: int, meter_interval: float, supply_phases: int = 3) -> None:
        self._settings = _seed(connectors=connectors, meter_interval=meter_interval, supply_phases=supply_phases)

    def keys(self) -> list[Setting]:
        """The 1.6 view: every setting with a key."""
        return [s for s in self._settings if s.key is not None and not s.secret]

    def variables(self) -> list[Setting]:
        """The 2.0.1 view: every setting of a component (what a device model report lists)."""
        return [s for s in self._settings if s.component is not None and not s.secret]

    def by_key(self, key: str) -> Setting | None:
        return next((s for s in self._settings if s.key == key), None)

    def knows_component(self, component: str) -> bool:
        return any(s.component == component for s in self._settings)

    def by_variable(self, component: str, variable: str) -> Setting | None:
        return next((s for s in self._settings if (s.component, s.variable) == (component, variable)), None)

    def change(self, setting: Setting | None, value: str) -> Change:
        if setting is None:
            return Change.UNKNOWN
        if setting.readonly or not _valid(setting.kind, value):
            return Change.REJECTED
        setting.value = value.lower() if setting.kind is Kind.BOOLEAN else value
        return Change.ACCEPTED

    def number(self, key: str) -> float:
        setting = self.by_key(key)
        assert setting is not None and setting.kind is Kind.INTEGER, key
        return float(setting.value)

    def flag(self, key: str) -> bool:
        setting = self.by_key(key)
        return setting is not None and setting.value == "true"

    def set_number(self, key: str, value: float) -> None:
        """The station's own change, e.g. the heartbeat interval the CSMS gave at boot."""
        setting = self.by_key(key)
        assert setting is not None, key
        setting.value = f"{value:g}"

    def select(self, keys: Iterable[str] | None) -> tuple[list[Setting], list[str]]:
        """The 1.6 GetConfiguration answer: known settings and unknown keys (no keys: everything)."""
        if not keys:
            return self.keys(), []
        found = [(key, s if (s := self.by_key(key)) is not None and not s.secret else None) for key in keys]
        return [s for _, s in found if s is not None], [key for key, s in found if s is None]
