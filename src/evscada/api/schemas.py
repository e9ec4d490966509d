"""What the API returns: stable, documented shapes (times in UTC, energy in Wh)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from evscada.core.commands import CommandOutcome
from evscada.core.model import MeterSample, Transaction
from evscada.core.queries import StationView


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

    @classmethod
    def of(cls, view: StationView) -> StationOut:
        s = view.station
        return cls(
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

    @classmethod
    def of(cls, tx: Transaction) -> TransactionOut:
        return cls(
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


class HealthOut(BaseModel):
    status: str
    database: str
    stations_connected: int
    version: str
