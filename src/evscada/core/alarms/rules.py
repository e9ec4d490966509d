"""Alarm rules from the settings file: priority per source, thresholds, and per-site overrides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from evscada.core.model import AlarmPriority

# Alarm sources; the `source` of every alarm is one of these.
STATION_FAULT = "station_fault"  # 1.6 StatusNotification errorCode, 2.0.1 Faulted
STATION_EVENT = "station_event"  # 2.0.1 NotifyEvent problems (Problem=true, AvailabilityState=Faulted, Alerting)
OFFLINE = "offline"
FLAPPING = "flapping"
BOOT = "boot"  # BootNotification answered Rejected, or Pending for too long
SECURITY = "security"
TRANSACTION = "transaction"  # a session ended abnormally
NO_METER_VALUES = "no_meter_values"
FIRMWARE = "firmware"
DIAGNOSTICS = "diagnostics"  # diagnostics (1.6) or log (2.0.1) upload failed
COMMAND_TIMEOUT = "command_timeout"
ENERGY_REGISTER = "energy_register"  # the energy register went backwards

# The disconnect reason the gateway records for the connections it closes because the CSMS stops: the station did
# not go away, and it cannot come back before the CSMS runs again, so neither counts it as offline (issue 19).
CSMS_STOPPED = "the CSMS stopped"

SOURCES = (
    STATION_FAULT,
    STATION_EVENT,
    OFFLINE,
    FLAPPING,
    BOOT,
    SECURITY,
    TRANSACTION,
    NO_METER_VALUES,
    FIRMWARE,
    DIAGNOSTICS,
    COMMAND_TIMEOUT,
    ENERGY_REGISTER,
)

DEFAULT_PRIORITIES: dict[str, int] = {
    STATION_FAULT: 2,
    f"{STATION_FAULT}:GroundFailure": 1,  # an earth leak is a danger to people
    f"{STATION_FAULT}:OverCurrentFailure": 1,
    f"{STATION_FAULT}:HighTemperature": 1,
    STATION_EVENT: 3,
    # 2.0.1 stations name the fault in NotifyEvent's techCode; many use the 1.6 error code names.
    f"{STATION_EVENT}:GroundFailure": 1,
    f"{STATION_EVENT}:OverCurrentFailure": 1,
    f"{STATION_EVENT}:HighTemperature": 1,
    OFFLINE: 2,
    FLAPPING: 3,
    BOOT: 3,
    SECURITY: 2,
    TRANSACTION: 3,
    f"{TRANSACTION}:EmergencyStop": 2,
    NO_METER_VALUES: 3,
    FIRMWARE: 3,
    DIAGNOSTICS: 4,
    COMMAND_TIMEOUT: 4,
    ENERGY_REGISTER: 3,
}

# Routine SecurityEventNotification types that say nothing is wrong (OCPP 2.0.1 appendix 1 marks them not critical).
DEFAULT_QUIET_SECURITY_EVENTS = [
    "FirmwareUpdated",
    "StartupOfTheDevice",
    "ResetOrReboot",
    "SettingSystemTime",
    "ReconfigurationOfSecurityParameters",
]


Priority = Annotated[int, Field(ge=1, le=4)]


class Thresholds(BaseModel):
    """Times and counts after which a condition becomes an alarm; every field can be overridden per site."""

    model_config = ConfigDict(extra="forbid")

    offline_after_seconds: float = Field(600.0, gt=0, description="disconnected for this long")
    silent_after_seconds: float = Field(
        900.0, gt=0, description="connected but no message (not even a Heartbeat) for this long"
    )
    no_meter_values_after_minutes: float = Field(15.0, gt=0, description="a running session without meter values")
    flapping_reconnects: int = Field(5, ge=2, description="this many connections ...")
    flapping_window_seconds: float = Field(600.0, gt=0, description="... within this many seconds")
    pending_after_seconds: float = Field(3600.0, gt=0, description="a station left Pending this long")


class SiteOverride(BaseModel):
    """What differs at one site; unset fields take the global value."""

    model_config = ConfigDict(extra="forbid")

    priorities: dict[str, Priority] = Field(default_factory=dict)
    offline_after_seconds: float | None = Field(None, gt=0)
    silent_after_seconds: float | None = Field(None, gt=0)
    no_meter_values_after_minutes: float | None = Field(None, gt=0)
    flapping_reconnects: int | None = Field(None, ge=2)
    flapping_window_seconds: float | None = Field(None, gt=0)
    pending_after_seconds: float | None = Field(None, gt=0)


class AlarmSettings(Thresholds):
    """The `[alarms]` table of the settings file."""

    enabled: bool = Field(True, description="false: no alarm engine runs")
    check_interval_seconds: float = Field(5.0, gt=0, description="how often timers (offline, shelving...) are checked")
    priorities: dict[str, Priority] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES),
        description='priority 1-4 by source, or by "source:detail" (e.g. "station_fault:GroundFailure")',
    )
    quiet_security_events: list[str] = Field(
        default_factory=lambda: list(DEFAULT_QUIET_SECURITY_EVENTS),
        description="SecurityEventNotification types that raise no alarm",
    )
    energy_register_tolerance_wh: float = Field(1.0, ge=0, description="a drop smaller than this is rounding")
    sites: dict[str, SiteOverride] = Field(default_factory=dict, description="overrides by site id or site name")


@dataclass(frozen=True, slots=True)
class SiteRules:
    """The rules in force at one site (or for stations without one)."""

    priorities: dict[str, int]
    thresholds: Thresholds

    def priority(self, source: str, detail: str | None = None) -> AlarmPriority:
        """Most specific first: "source:detail", then "source", then medium."""
        if detail is not None and f"{source}:{detail}" in self.priorities:
            return AlarmPriority(self.priorities[f"{source}:{detail}"])
        return AlarmPriority(self.priorities.get(source, int(AlarmPriority.MEDIUM)))


class AlarmRules:
    """Resolves the rules for a site, once per site."""

    def __init__(self, settings: AlarmSettings) -> None:
        self.settings = settings
        self._global = SiteRules(
            priorities={**DEFAULT_PRIORITIES, **settings.priorities},
            thresholds=Thresholds(**{name: getattr(settings, name) for name in Thresholds.model_fields}),
        )
        self._cache: dict[tuple[int | None, str | None], SiteRules] = {}

    def for_site(self, site_id: int | None, site_name: str | None = None) -> SiteRules:
        key = (site_id, site_name)
        rules = self._cache.get(key)
        if rules is None:
            rules = self._cache[key] = self._resolve(site_id, site_name)
        return rules

    def _resolve(self, site_id: int | None, site_name: str | None) -> SiteRules:
        override = None
        if site_id is not None:
            override = self.settings.sites.get(str(site_id))
        if override is None and site_name is not None:
            override = self.settings.sites.get(site_name)
        if override is None:
            return self._global
        changed = {
            name: getattr(override, name) for name in Thresholds.model_fields if getattr(override, name) is not None
        }
        return SiteRules(
            priorities={**self._global.priorities, **override.priorities},
            thresholds=self._global.thresholds.model_copy(update=changed),
        )
