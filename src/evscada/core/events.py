"""Events the core publishes on the bus; subscribers (console, alarms, integrations) react to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evscada.core.model import Alarm, ComponentProblem, EvseRef, StationId, TransactionPk


@dataclass(frozen=True, slots=True)
class Event:
    station_id: StationId  # "" for events about no single station
    at: datetime


@dataclass(frozen=True, slots=True)
class StationConnected(Event):
    ocpp_version: str


@dataclass(frozen=True, slots=True)
class StationDisconnected(Event):
    reason: str


@dataclass(frozen=True, slots=True)
class StationBooted(Event):
    status: str


@dataclass(frozen=True, slots=True)
class ConnectorStatusChanged(Event):
    evse: EvseRef
    status: str
    error_code: str | None


@dataclass(frozen=True, slots=True)
class TransactionStarted(Event):
    transaction_pk: TransactionPk
    evse: EvseRef
    id_token: str | None


@dataclass(frozen=True, slots=True)
class TransactionEnded(Event):
    transaction_pk: TransactionPk
    stop_reason: str | None
    energy_wh: float | None
    evse: EvseRef | None = None  # where it ran, when known


@dataclass(frozen=True, slots=True)
class MeterValuesRecorded(Event):
    evse: EvseRef
    transaction_pk: TransactionPk | None
    count: int
    energy_register_wh: float | None = None  # the last Energy.Active.Import.Register (Wh) among the samples
    power_w: float | None = None  # the last Power.Active.Import (W) of the outlet
    soc_pct: float | None = None  # the last SoC (%) the vehicle reported
    current_a: float | None = None  # the last Current.Import (A) of the outlet, or the mean of its phases
    voltage_v: float | None = None  # the last Voltage (V) of the outlet, or the mean of its phases


@dataclass(frozen=True, slots=True)
class EvChargingNeedsReported(Event):
    """A vehicle told its needs through the station (2.0.1 NotifyEVChargingNeeds): the planner's input."""

    evse_id: int
    departure: datetime | None
    energy_wh: float | None  # what it asks for
    soc_pct: float | None
    capacity_wh: float | None
    max_power_w: float | None


@dataclass(frozen=True, slots=True)
class SecurityEventRaised(Event):
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class CommandFinished(Event):
    command_id: int
    command: str
    outcome: str
    status: str | None


@dataclass(frozen=True, slots=True)
class AlarmChanged(Event):
    """An alarm was raised, repeated, acknowledged, shelved or cleared; `alarm` is its state now."""

    change: str  # raised | repeated | acknowledged | commented | shelved | unshelved | cleared
    alarm: Alarm


@dataclass(frozen=True, slots=True)
class UpstreamConfigChanged(Event):
    """An OCPP proxy configuration was set or removed: in a cluster, the gateway holding the station re-links it."""

    scope: str  # station | site
    target: str  # the station id or the site id


@dataclass(frozen=True, slots=True)
class Internal(Event):
    """Between the processes of a cluster only (ADR 12): not streamed to clients of GET /api/v1/events."""


@dataclass(frozen=True, slots=True)
class SiteGridChanged(Internal):
    """A site's grid limits (curve, curtailment, tariff) or feeders were changed: in a cluster every process reloads
    the limits, so the leader's load management applies them and every api process shows them (ADR 12)."""

    site_id: int


@dataclass(frozen=True, slots=True)
class StationMessageReceived(Event):
    """A station report kept as a record (NotifyEvent, firmware/log status, security event ...) was stored."""

    kind: str  # StationMessage.kind: event | firmware_status | diagnostics_status | log_status | security_event ...
    summary: str | None
    payload: dict[str, Any]
    status: str | None = None  # StationMessage.status: e.g. InstallationFailed in a firmware status report
    problems: tuple[ComponentProblem, ...] = ()  # component problems (or their ends) the message reports
