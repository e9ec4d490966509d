"""What the API returns: stable, documented shapes (times in UTC, energy in Wh)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from evscada.api.params import Id, Time
from evscada.core.access.audit import AuditEntry
from evscada.core.access.users import ApiKey, User
from evscada.core.charging.queries import StationView
from evscada.core.control.commands import CommandOutcome
from evscada.core.model import MeterSample, Site, Transaction, Vehicle, VehicleId
from evscada.core.stations.passwords import MAX_LENGTH, MIN_LENGTH, check_station_password


class ConnectorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from core.queries.ConnectorView

    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    status_at: datetime


class StationOut(BaseModel):
    id: str
    registration: str
    security_profile: int
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    online: bool
    connected_since: datetime | None
    last_seen: datetime | None
    last_boot: datetime | None
    disconnect_reason: str | None
    connectors: list[ConnectorOut]
    name: str | None = None
    site: SiteRef | None = None
    location: Location | None = None  # the station's own; a station without one stands at its site's
    feeder_id: int | None = None  # its supply at its site (load management); none: the grid connection
    max_power_w: float | None = None  # per EVSE
    supply: str | None = None  # AC | DC
    phases: int | None = None

    @classmethod
    def of(cls, view: StationView) -> StationOut:
        s = view.station
        return cls(
            name=s.name,
            site=SiteRef(id=view.site.id, name=view.site.name) if view.site else None,
            location=Location.of(s.latitude, s.longitude),
            feeder_id=s.feeder_id,
            max_power_w=s.max_power_w,
            supply=None if s.supply is None else str(s.supply),
            phases=s.phases,
            id=s.id,
            registration=str(s.registration),
            security_profile=int(s.security_profile),
            ocpp_version=s.ocpp_version,
            vendor=s.vendor,
            model=s.model,
            serial_number=s.serial_number,
            firmware_version=s.firmware_version,
            online=s.online,
            connected_since=s.connected_since,
            last_seen=s.last_seen,
            last_boot=s.last_boot,
            disconnect_reason=s.disconnect_reason,
            connectors=[ConnectorOut.model_validate(c) for c in view.connectors],
        )


class TransactionOut(BaseModel):
    id: int
    station_id: str
    station_transaction_id: str
    evse_id: int | None
    connector_id: int | None
    state: str
    id_token: str | None
    token_type: str | None
    auth_status: str | None
    started_at: datetime | None
    ended_at: datetime | None
    meter_start_wh: float | None
    meter_stop_wh: float | None
    energy_wh: float | None
    stop_reason: str | None
    offline: bool
    remote_start_command_id: int | None  # the command log entry of the remote start that asked for it
    vehicle_id: int | None = None  # the vehicle of the token when the session started
    vehicle_name: str | None = None

    @classmethod
    def of(cls, tx: Transaction, vehicle_names: dict[VehicleId, str] | None = None) -> TransactionOut:
        return cls(
            vehicle_id=tx.vehicle_id,
            vehicle_name=(vehicle_names or {}).get(tx.vehicle_id) if tx.vehicle_id is not None else None,
            id=tx.pk,
            station_id=tx.station_id,
            station_transaction_id=tx.station_transaction_id,
            evse_id=tx.evse.evse_id if tx.evse else None,
            connector_id=tx.evse.connector_id if tx.evse else None,
            state=str(tx.state),
            id_token=tx.id_token,
            token_type=tx.token_type,
            auth_status=tx.auth_status,
            started_at=tx.started_at,
            ended_at=tx.ended_at,
            meter_start_wh=tx.meter_start,
            meter_stop_wh=tx.meter_stop,
            energy_wh=tx.energy_wh,
            stop_reason=tx.stop_reason,
            offline=tx.offline,
            remote_start_command_id=tx.remote_start_command_id,
        )


def transaction_json(tx: Transaction) -> dict[str, Any]:
    """A transaction as GET /transactions/{id} shows it, without vehicle name and samples: webhooks send this."""
    return TransactionOut.of(tx).model_dump(mode="json")


class SampleOut(BaseModel):
    timestamp: datetime
    measurand: str
    value: float | None
    unit: str | None
    phase: str | None
    location: str | None
    context: str | None

    @classmethod
    def of(cls, s: MeterSample) -> SampleOut:
        return cls(
            timestamp=s.timestamp,
            measurand=s.measurand,
            value=s.value,
            unit=s.unit,
            phase=s.phase,
            location=s.location,
            context=s.context,
        )


class TransactionDetailOut(TransactionOut):
    samples: list[SampleOut]


class CommandOut(BaseModel):
    command_id: int
    station_id: str
    command: str
    outcome: str  # answered | call_error | timeout | offline | not_supported
    status: str | None  # the station's answer (Accepted, Rejected, ...) or its CALLERROR code
    data: dict[str, Any]
    error: str | None
    requested_at: datetime
    finished_at: datetime

    @classmethod
    def of(cls, o: CommandOutcome) -> CommandOut:
        return cls(
            command_id=o.command_id,
            station_id=o.station_id,
            command=o.command,
            outcome=str(o.outcome),
            status=o.status,
            data=o.data,
            error=o.error,
            requested_at=o.requested_at,
            finished_at=o.finished_at,
        )


class CommandLogOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from core.queries.CommandLogView

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


HealthStatus = Literal["ok", "degraded", "failing"]


class BridgeHealthOut(BaseModel):
    name: str = Field(description="mqtt | opcua | iec104")
    state: str = Field(description="starting | connected | reconnecting | listening | failed")
    detail: str | None = Field(description="where it is connected or listens, or why it is not")
    queued: int = Field(description="items waiting in its backlog")
    dropped: int = Field(description="items dropped from its full backlog since start (oldest first)")


class HealthOut(BaseModel):
    status: HealthStatus = Field(
        description="degraded: reads work, writes fail (stations are turned away); failing: no database"
    )
    database: str = Field(description='"ok", or what fails and why, e.g. "writes fail: OperationalError: ..."')
    stations_connected: int
    version: str
    bridges: list[BridgeHealthOut] = Field(
        default_factory=list, description="the MQTT / OPC UA bridges switched on; their trouble never fails health"
    )
    cluster: dict[str, Any] | None = Field(
        None,
        description="in a cluster: this node, its role, whether it leads, the event bus's Redis link; null in one "
        "process",
    )


# --- sites, vehicles, users, API keys, audit log ---------------------------------------------------------------

# The idToken types of OCPP 2.0.1 (IdTokenEnumType); 1.6 has none, so this is every version's. A token of another type
# could never be sent to a 2.0.1 station (local lists, reservations, remote starts).
IdTokenType = Literal["Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="WGS 84 degrees")]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="WGS 84 degrees")]
StationPassword = Annotated[
    str,
    AfterValidator(check_station_password),
    WithJsonSchema({"type": "string", "minLength": MIN_LENGTH, "maxLength": MAX_LENGTH}),  # the check, for clients
]


class Location(BaseModel):
    latitude: float
    longitude: float

    @classmethod
    def of(cls, latitude: float | None, longitude: float | None) -> Location | None:
        return None if latitude is None or longitude is None else cls(latitude=latitude, longitude=longitude)


class SiteRef(BaseModel):
    id: int
    name: str


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("may not be null")
    return value


class _Partial(BaseModel):
    """A PATCH body: fields left out keep their value, an explicit null clears one."""

    model_config = ConfigDict(extra="forbid")

    def merged(self, current: dict[str, Any]) -> dict[str, Any]:
        return {**current, **{name: getattr(self, name) for name in self.model_fields_set}}


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    address: str | None = Field(None, max_length=255)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    grid_capacity_w: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="what the grid connection allows, in W"
    )
    grid_capacity_a: float | None = Field(
        None, ge=0, le=100_000, allow_inf_nan=False, description="... and/or in A per phase"
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> SiteIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class SitePatch(_Partial):
    name: Name | None = None
    address: str | None = Field(None, max_length=255)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    grid_capacity_w: float | None = Field(None, ge=0, allow_inf_nan=False)
    grid_capacity_a: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)

    _name = field_validator("name")(_not_null)


class SiteOut(BaseModel):
    id: int
    name: str
    address: str | None
    location: Location | None
    grid_capacity_w: float | None
    grid_capacity_a: float | None

    @classmethod
    def of(cls, site: Site) -> SiteOut:
        return cls(
            id=site.id,
            name=site.name,
            address=site.address,
            location=Location.of(site.latitude, site.longitude),
            grid_capacity_w=site.grid_capacity_w,
            grid_capacity_a=site.grid_capacity_a,
        )


class SiteCounts(BaseModel):
    stations: int
    online: int
    offline: int
    registration: dict[str, int]  # Accepted / Pending / Rejected -> stations
    connectors: dict[str, int]  # Available / Charging / Faulted ... -> connectors


class SiteDetailOut(SiteOut):
    counts: SiteCounts
    stations: list[StationOut]

    @classmethod
    def with_stations(cls, site: Site, views: list[StationView]) -> SiteDetailOut:
        online = sum(1 for v in views if v.station.online)
        counts = SiteCounts(
            stations=len(views),
            online=online,
            offline=len(views) - online,
            registration=dict(Counter(str(v.station.registration) for v in views)),
            connectors=dict(Counter(c.status for v in views for c in v.connectors if c.evse_id > 0)),
        )
        return cls(**SiteOut.of(site).model_dump(), counts=counts, stations=[StationOut.of(v) for v in views])


class StationPlacement(BaseModel):
    """The fields of a station operators name and place (PATCH /stations/{id})."""

    name: Name | None = None
    site_id: Id | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None

    def merged_placement(self, current: dict[str, Any]) -> dict[str, Any]:
        """The current values with the ones this body names (an explicit null clears)."""
        sent = self.model_fields_set & set(StationPlacement.model_fields)
        return {**current, **{name: getattr(self, name) for name in sent}}


def _time_of_day(value: time | None) -> time | None:
    if value is not None and value.tzinfo is not None:
        raise ValueError("a time of day without an offset (04:30): it is read in the operator's time zone")
    return value


# What departure-aware charging needs of a vehicle (all optional; core/access/departures.py).
DepartureTime = Annotated[
    time,
    AfterValidator(_time_of_day),
    Field(description="leaves every day at this time of day (HH:MM), in the operator's time zone (operator_timezone)"),
]
OneOffDeparture = Annotated[
    Time, Field(description="a one-off departure (with offset); wins over departure_time while in the future")
]
TargetSoc = Annotated[float, Field(ge=1, le=100, allow_inf_nan=False, description="charged to this by departure, %")]
Priority = Annotated[int, Field(ge=0, le=100, description="higher charges first when power is short (0: most)")]
VehiclePower = Annotated[
    float, Field(gt=0, le=1e6, allow_inf_nan=False, description="the most the vehicle takes, in W")
]


class VehicleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    plate: str | None = Field(None, max_length=20, description="licence plate")
    fleet_number: str | None = Field(None, max_length=50)
    fleet: str | None = Field(None, max_length=100)
    battery_capacity_wh: float | None = Field(None, gt=0, allow_inf_nan=False)
    departure_time: DepartureTime | None = None
    next_departure: OneOffDeparture | None = None
    target_soc_pct: TargetSoc | None = None
    priority: Priority = 0
    max_power_w: VehiclePower | None = None


class VehiclePatch(_Partial):
    name: Name | None = None
    plate: str | None = Field(None, max_length=20)
    fleet_number: str | None = Field(None, max_length=50)
    fleet: str | None = Field(None, max_length=100)
    battery_capacity_wh: float | None = Field(None, gt=0, allow_inf_nan=False)
    departure_time: DepartureTime | None = None
    next_departure: OneOffDeparture | None = None
    target_soc_pct: TargetSoc | None = None
    priority: Priority | None = None
    max_power_w: VehiclePower | None = None

    _name = field_validator("name")(_not_null)
    _priority = field_validator("priority")(_not_null)


class VehicleOut(BaseModel):
    id: int
    name: str
    plate: str | None
    fleet_number: str | None
    fleet: str | None
    battery_capacity_wh: float | None
    departure_time: time | None  # a time of day in the operator's time zone
    next_departure: datetime | None  # the one-off, as set (even once past)
    target_soc_pct: float | None
    priority: int
    max_power_w: float | None
    next_departure_at: datetime | None = Field(
        None, description="when it leaves next (UTC): the one-off while ahead, else the next daily departure"
    )
    tokens: list[str] | None = None  # in the detail only: the tokens it charges with

    @classmethod
    def of(
        cls, vehicle: Vehicle, tokens: list[str] | None = None, *, next_departure_at: datetime | None = None
    ) -> VehicleOut:
        return cls(
            id=vehicle.id,
            name=vehicle.name,
            plate=vehicle.plate,
            fleet_number=vehicle.fleet_number,
            fleet=vehicle.fleet,
            battery_capacity_wh=vehicle.battery_capacity_wh,
            departure_time=vehicle.departure_time,
            next_departure=vehicle.next_departure,
            target_soc_pct=vehicle.target_soc_pct,
            priority=vehicle.priority,
            max_power_w=vehicle.max_power_w,
            next_departure_at=next_departure_at,
            tokens=tokens,
        )


class TokenLinkIn(BaseModel):
    value: str = Field(min_length=1, max_length=36, description="the idTag / idToken to link to this vehicle")


RoleName = Literal["viewer", "operator", "admin"]
Password = Annotated[str, Field(min_length=8, max_length=200, description="8 to 200 characters; stored as argon2")]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")
    role: RoleName = "viewer"
    password: Password | None = Field(None, description="for the web console; API access uses keys")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: RoleName | None = None
    disabled: bool | None = Field(None, description="true: every request of the user is refused (401)")


class PasswordIn(BaseModel):
    password: Password


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    disabled: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, username=user.username, role=str(user.role), disabled=user.disabled)


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="what the key is for, e.g. billing-system")


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str  # the key's first characters, to recognise it
    created_at: datetime
    revoked_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            revoked=key.revoked_at is not None,
        )


class ApiKeyCreatedOut(ApiKeyOut):
    key: str  # shown this once; only its hash is kept


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            details=entry.details,
        )
