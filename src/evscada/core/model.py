"""Domain types shared by every OCPP version and every edge of the system."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, NewType

StationId = NewType("StationId", str)
TransactionPk = NewType("TransactionPk", int)
SiteId = NewType("SiteId", int)
VehicleId = NewType("VehicleId", int)
AlarmId = NewType("AlarmId", int)


class RegistrationStatus(enum.StrEnum):
    """Whether the CSMS lets a station operate; answered in BootNotification."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class SecurityProfile(enum.IntEnum):
    NONE = 0  # no authentication (trusted networks only)
    BASIC = 1  # HTTP Basic Auth over ws://
    TLS_BASIC = 2  # TLS + HTTP Basic Auth
    MUTUAL_TLS = 3  # TLS with a client certificate


class ConnectorStatus(enum.StrEnum):
    """Union of 1.6 ChargePointStatus and 2.0.1 ConnectorStatus."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class AuthorizationStatus(enum.StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    UNKNOWN = "Unknown"


class TransactionState(enum.StrEnum):
    RUNNING = "running"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class EvseRef:
    """Where on a station something happens; evse 0 / connector 0 means the whole station."""

    evse_id: int
    connector_id: int


STATION_WIDE = EvseRef(evse_id=0, connector_id=0)


@dataclass(frozen=True, slots=True)
class IdToken:
    value: str
    type: str = "Central"


class Supply(enum.StrEnum):
    """What a station's EVSEs deliver (the values of core/energy/grid.Current)."""

    AC = "AC"
    DC = "DC"


@dataclass(slots=True)
class Station:
    id: StationId
    registration: RegistrationStatus = RegistrationStatus.PENDING
    security_profile: SecurityProfile = SecurityProfile.NONE
    password_hash: str | None = None
    ocpp_version: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    modem_iccid: str | None = None
    modem_imsi: str | None = None
    online: bool = False
    connected_since: datetime | None = None
    last_seen: datetime | None = None
    last_boot: datetime | None = None
    disconnect_reason: str | None = None
    name: str | None = None  # what operators call it ("Depot bay 3"); the id is what the station sends
    site_id: SiteId | None = None
    latitude: float | None = None  # WGS 84 degrees; a station without its own location shows at its site's
    longitude: float | None = None
    # Its electrical place at its site, for load management (None: not known).
    feeder_id: int | None = None  # the feeder of its site it hangs from; none: straight from the grid connection
    max_power_w: float | None = None  # what one of its EVSEs can deliver
    supply: Supply | None = None
    phases: int | None = None  # AC: the phases it is wired to (1, 2 or 3)


@dataclass(frozen=True, slots=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    modem_iccid: str | None = None
    modem_imsi: str | None = None
    reason: str | None = None  # 2.0.1 BootReason; None for 1.6


@dataclass(frozen=True, slots=True)
class BootDecision:
    status: RegistrationStatus
    current_time: datetime
    interval: int


@dataclass(frozen=True, slots=True)
class StatusReport:
    evse: EvseRef
    status: ConnectorStatus
    timestamp: datetime
    error_code: str | None = None  # 1.6 ChargePointErrorCode; "NoError" is stored as None
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


@dataclass(slots=True)
class Token:
    value: str
    type: str = "Central"
    status: AuthorizationStatus = AuthorizationStatus.ACCEPTED
    expires_at: datetime | None = None
    group_id: str | None = None
    vehicle_id: VehicleId | None = None  # the vehicle this card or app token charges, if known
    priority: int | None = None  # load management: its sessions' priority when they have no vehicle


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    status: AuthorizationStatus
    expires_at: datetime | None = None
    group_id: str | None = None
    vehicle_id: VehicleId | None = None  # the token's vehicle: a session it starts records it


@dataclass(slots=True)  # not frozen: built five or more times per MeterValues, and frozen init is slow
class MeterSample:
    """One sampled value, in the units OCPP reports (Wh, W, A, V, %...), multipliers applied."""

    timestamp: datetime
    value: float | None
    measurand: str = "Energy.Active.Import.Register"
    unit: str | None = None
    phase: str | None = None
    location: str | None = None
    context: str | None = None
    raw: str | None = None  # kept when the station sent a value that is not a number (e.g. signed data)


class TransactionEventKind(enum.StrEnum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


@dataclass(frozen=True, slots=True)
class TransactionReport:
    """What a station says about a session: 1.6 Start/StopTransaction and 2.0.1 TransactionEvent alike."""

    kind: TransactionEventKind
    timestamp: datetime
    station_transaction_id: str | None = None  # None for a 1.6 start: the CSMS assigns the id
    evse: EvseRef | None = None
    id_token: IdToken | None = None
    meter_value: float | None = None  # 1.6 meterStart / meterStop in Wh
    stop_reason: str | None = None
    trigger_reason: str | None = None
    charging_state: str | None = None
    seq_no: int | None = None
    offline: bool = False
    reservation_id: int | None = None
    remote_start_id: int | None = None  # 2.0.1 transactionInfo.remoteStartId: the command log id we sent
    samples: tuple[MeterSample, ...] = ()


@dataclass(slots=True)
class Transaction:
    pk: TransactionPk
    station_id: StationId
    station_transaction_id: str
    evse: EvseRef
    state: TransactionState
    id_token: str | None = None
    token_type: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    meter_start: float | None = None
    meter_stop: float | None = None
    stop_reason: str | None = None
    offline: bool = False
    auth_status: str | None = None
    charging_state: str | None = None
    last_seq_no: int | None = None
    reservation_id: int | None = None
    remote_start_command_id: int | None = None  # the command that asked for this session, if one did
    vehicle_id: VehicleId | None = None  # from the token's vehicle when the session started
    updated_at: datetime | None = None  # set by storage on every change; the export cursor follows it

    @property
    def energy_wh(self) -> float | None:
        if self.meter_start is None or self.meter_stop is None:
            return None
        return energy_between(self.meter_start, self.meter_stop)


def energy_between(start_wh: float, stop_wh: float) -> float:
    """Wh a monotonic register counted between two readings, the one rule for every edge (docs/api.md, energy_wh):
    never below 0 (a station may report its start a hair above its stop, e.g. Wh at the start and kWh at the end),
    rounded to 1 mWh, which keeps every digit an energy meter reports and drops binary floating-point noise."""
    return max(0.0, round(stop_wh - start_wh, 3))


@dataclass(frozen=True, slots=True)
class ComponentProblem:
    """A problem a station reports on one of its components (2.0.1 NotifyEvent), or its end (active=False)."""

    subject: str  # e.g. "EVSE 1/1 Connector/AvailabilityState": one alarm per subject
    active: bool
    message: str
    evse: EvseRef | None = None
    tech_code: str | None = None  # the station's own fault code, e.g. "GroundFailure": rules may rank by it


@dataclass(frozen=True, slots=True)
class StationMessage:
    """A station-initiated message kept as a record (DataTransfer, firmware status, security event ...)."""

    kind: str
    timestamp: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    summary: str | None = None
    status: str | None = None  # the word the report states: a status report's outcome, a security event's type
    problems: tuple[ComponentProblem, ...] = ()  # what the version's mapping read as problems in it


@dataclass(slots=True)
class Site:
    """A place with stations sharing one grid connection: a depot, a public car park, a garage."""

    id: SiteId
    name: str
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    grid_capacity_w: float | None = None  # what the grid connection allows, in W (the smart-charging limit)
    grid_capacity_a: float | None = None  # ... and/or in A per phase (a fuse, a transformer's rating)


@dataclass(slots=True)
class Vehicle:
    id: VehicleId
    name: str
    plate: str | None = None  # licence plate
    fleet_number: str | None = None  # e.g. a bus's number in its fleet
    fleet: str | None = None
    battery_capacity_wh: float | None = None
    # What departure-aware charging plans for (core/access/departures.py: next_departure):
    departure_time: time | None = None  # leaves every day at this time of day, in the operator's time zone (naive)
    next_departure: datetime | None = None  # a one-off departure (UTC); wins over departure_time while in the future
    target_soc_pct: float | None = None  # charged to this state of charge by its departure, 1-100 %
    priority: int = 0  # higher charges first when power is short, -100..100
    max_power_w: float | None = None  # the most it takes (its on-board charger or battery), W


class AlarmPriority(enum.IntEnum):
    """ISA-18.2 style: 1 needs action now, 4 is for information."""

    CRITICAL = 1
    HIGH = 2
    MEDIUM = 3
    INFO = 4


class AlarmState(enum.StrEnum):
    ACTIVE = "active"  # the condition holds
    CLEARED = "cleared"  # the condition ended; kept as history


@dataclass(slots=True)
class Alarm:
    """One condition on one station (or connector); repeats of it count up instead of raising a new alarm."""

    id: AlarmId
    key: str  # identifies the condition: e.g. "fault:CP-1:1" or "offline:CP-1"; one active alarm per key
    source: str  # station_fault | offline | flapping | boot | security | transaction | no_meter_values | ...
    station_id: StationId | None
    evse: EvseRef | None
    priority: AlarmPriority
    message: str
    state: AlarmState
    raised_at: datetime
    last_raised_at: datetime
    count: int = 1
    cleared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    comment: str | None = None
    shelved_until: datetime | None = None
    shelved_reason: str | None = None
    suppressed: bool = False  # raised while the station was in maintenance: recorded, not notified
    site_id: SiteId | None = None  # the station's site when the alarm was raised (history stays where it was)
    # ISA-18.2 consequential alarms: the first alarm of the same station (and EVSE, or station-wide) still active when
    # this one was raised shortly after it; None when this alarm stands on its own or is itself a cause.
    cause_id: AlarmId | None = None
    consequences: int = 0  # alarms recorded with this one as their cause (read from storage, never written)
