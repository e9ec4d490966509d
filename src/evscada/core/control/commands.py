"""Remote control: version-neutral commands, sent through the gateway, every outcome logged."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from evscada.core import events
from evscada.core.access.audit import AuditEntry, Auditor, AuditRepository
from evscada.core.energy.profiles import ChargingProfile, ProfilePurpose, RateUnit
from evscada.core.errors import CommandCallError, CommandNotSupported, CommandTimeout, StationOffline
from evscada.core.model import IdToken, StationId
from evscada.core.ports import Clock, EventBus, Store

log = logging.getLogger(__name__)


class Command:
    """Base of every command; `name` is how logs and the API call it."""

    name = "command"

    def arguments(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    def numbered(self, command_id: int) -> Command:
        """The command as sent, given its command log id (a remote start or a report request carries it)."""
        return self


@dataclass(frozen=True, slots=True)
class RemoteStart(Command):
    id_token: IdToken
    evse_id: int | None = None
    remote_start_id: int | None = None  # set by the service: links the transaction that follows
    charging_profile: ChargingProfile | None = None  # a Tx profile for the transaction (core.energy checks it)
    name = "remote_start"

    def numbered(self, command_id: int) -> Command:
        return self if self.remote_start_id is not None else replace(self, remote_start_id=command_id)


@dataclass(frozen=True, slots=True)
class RemoteStop(Command):
    station_transaction_id: str
    name = "remote_stop"


@dataclass(frozen=True, slots=True)
class ChangeAvailability(Command):
    operative: bool
    evse_id: int = 0  # 0: the whole station
    connector_id: int | None = None
    name = "change_availability"


class ResetKind(enum.StrEnum):
    SOFT = "soft"  # 1.6 Soft; 2.0.1 OnIdle (after running transactions)
    HARD = "hard"  # 1.6 Hard; 2.0.1 Immediate


@dataclass(frozen=True, slots=True)
class Reset(Command):
    kind: ResetKind = ResetKind.SOFT
    evse_id: int | None = None
    name = "reset"


@dataclass(frozen=True, slots=True)
class UnlockConnector(Command):
    evse_id: int
    connector_id: int = 1
    name = "unlock_connector"


@dataclass(frozen=True, slots=True)
class ClearCache(Command):
    name = "clear_cache"


@dataclass(frozen=True, slots=True)
class TriggerMessage(Command):
    message: str  # BootNotification, Heartbeat, StatusNotification, MeterValues, FirmwareStatusNotification, ...
    evse_id: int | None = None
    name = "trigger_message"


@dataclass(frozen=True, slots=True)
class DataTransfer(Command):
    vendor_id: str
    message_id: str | None = None
    data: Any = None
    name = "data_transfer"


@dataclass(frozen=True, slots=True)
class SettingRef:
    """A configuration setting: a 1.6 key, or a 2.0.1 variable of a component (optionally of one EVSE)."""

    name: str
    component: str | None = None  # required by 2.0.1 stations, ignored by 1.6
    evse_id: int | None = None
    instance: str | None = None


@dataclass(frozen=True, slots=True)
class GetSettings(Command):
    """Read settings (1.6 GetConfiguration, 2.0.1 GetVariables); no settings: all of them (1.6 only)."""

    settings: tuple[SettingRef, ...] = ()
    name = "get_configuration"


@dataclass(frozen=True, slots=True)
class ChangeSetting(Command):
    """Change one setting (1.6 ChangeConfiguration, 2.0.1 SetVariables)."""

    setting: SettingRef
    value: str
    name = "change_configuration"


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    """One token as a station's local list holds it; status None removes it (differential updates only)."""

    value: str
    type: str = "Central"
    status: str | None = "Accepted"
    expires_at: datetime | None = None
    group_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendLocalList(Command):
    """Install (full) or amend (differential) a station's local authorization list under a new version."""

    version: int
    full: bool
    entries: tuple[LocalListEntry, ...] = ()
    name = "send_local_list"

    def arguments(self) -> dict[str, Any]:
        # A full list may hold thousands of tokens: the log keeps the counts and the first few values.
        removed = [e.value for e in self.entries if e.status is None]
        updated = [e.value for e in self.entries if e.status is not None]
        return {
            "version": self.version,
            "update": "full" if self.full else "differential",
            "updated": len(updated),
            "removed": len(removed),
            "tokens": updated[:50],
            "removed_tokens": removed[:50],
        }


@dataclass(frozen=True, slots=True)
class GetLocalListVersion(Command):
    name = "get_local_list_version"


@dataclass(frozen=True, slots=True)
class ReserveNow(Command):
    """Hold an EVSE (1.6: a connector; None or 0: any) for a token until expires_at."""

    reservation_id: int
    id_token: IdToken
    expires_at: datetime
    evse_id: int | None = None
    connector_type: str | None = None  # 2.0.1 only: any EVSE with this kind of connector
    group_id: str | None = None  # 1.6 parentIdTag, 2.0.1 groupIdToken: anyone of the group may use it
    name = "reserve_now"


@dataclass(frozen=True, slots=True)
class CancelReservation(Command):
    reservation_id: int
    name = "cancel_reservation"


class ReportBase(enum.StrEnum):
    CONFIGURATION = "ConfigurationInventory"
    FULL = "FullInventory"
    SUMMARY = "SummaryInventory"


@dataclass(frozen=True, slots=True)
class GetBaseReport(Command):
    """Ask a 2.0.1 station for a predefined report; it arrives afterwards in NotifyReport parts."""

    base: ReportBase = ReportBase.FULL
    request_id: int | None = None  # set by the service to the command log id, so the report names its request
    name = "get_base_report"

    def numbered(self, command_id: int) -> Command:
        return self if self.request_id is not None else GetBaseReport(base=self.base, request_id=command_id)


@dataclass(frozen=True, slots=True)
class ComponentVariableRef:
    """A 2.0.1 component, optionally of one EVSE / connector, and optionally one of its variables."""

    component: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable: str | None = None
    variable_instance: str | None = None


@dataclass(frozen=True, slots=True)
class GetReport(Command):
    """Ask a 2.0.1 station for the variables that match criteria and/or named components."""

    criteria: tuple[str, ...] = ()  # Active, Available, Enabled, Problem
    items: tuple[ComponentVariableRef, ...] = ()
    request_id: int | None = None
    name = "get_report"

    def numbered(self, command_id: int) -> Command:
        if self.request_id is not None:
            return self
        return GetReport(criteria=self.criteria, items=self.items, request_id=command_id)


@dataclass(frozen=True, slots=True)
class SetChargingProfile(Command):
    """Install a charging profile on an EVSE (1.6: a connector; 0: the station as a whole); core.energy checks it."""

    evse_id: int
    profile: ChargingProfile
    name = "set_charging_profile"


@dataclass(frozen=True, slots=True)
class ClearChargingProfile(Command):
    """Clear the profile with this id, or every profile that matches the criteria given (none given: all)."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None
    name = "clear_charging_profile"


@dataclass(frozen=True, slots=True)
class GetCompositeSchedule(Command):
    """What the profiles in force on an EVSE (0: the station) add up to over the next `duration_s` seconds."""

    evse_id: int
    duration_s: int
    unit: RateUnit | None = None  # None: the station's choice
    name = "get_composite_schedule"


@dataclass(frozen=True, slots=True)
class GetChargingProfiles(Command):
    """Ask a 2.0.1 station for the profiles it holds; they arrive in ReportChargingProfiles under request_id."""

    evse_id: int | None = None  # None: every EVSE; 0: the station
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None
    profile_ids: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()  # who set them: EMS, Other, SO, CSO
    request_id: int | None = None  # set by the service to the command log id
    name = "get_charging_profiles"

    def numbered(self, command_id: int) -> Command:
        return self if self.request_id is not None else replace(self, request_id=command_id)


def _shown_location(location: str) -> str:
    """An upload location as the command and audit logs keep it: scheme and host only, since its path (a one-time
    token) or user part (FTP credentials) would let whoever reads the log upload or log in."""
    scheme, _, rest = location.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/..." if rest else "..."


@dataclass(frozen=True, slots=True)
class GetDiagnostics(Command):
    """Ask a 1.6 station to upload its diagnostics file to `location`; it answers with the file's name."""

    location: str
    retries: int | None = None
    retry_interval_s: int | None = None
    start_time: datetime | None = None  # the oldest information to include
    stop_time: datetime | None = None  # the latest
    name = "get_diagnostics"

    def arguments(self) -> dict[str, Any]:
        return {**asdict(self), "location": _shown_location(self.location)}


class LogType(enum.StrEnum):
    DIAGNOSTICS = "DiagnosticsLog"
    SECURITY = "SecurityLog"


@dataclass(frozen=True, slots=True)
class GetLog(Command):
    """Ask a station (1.6 security extension, 2.0.1) to upload a log to `location`; status notifications name
    request_id."""

    log_type: LogType
    location: str
    request_id: int | None = None  # None: the command log id
    oldest: datetime | None = None
    latest: datetime | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    name = "get_log"

    def arguments(self) -> dict[str, Any]:
        return {**asdict(self), "location": _shown_location(self.location)}

    def numbered(self, command_id: int) -> Command:
        return self if self.request_id is not None else replace(self, request_id=command_id)


@dataclass(frozen=True, slots=True)
class UpdateFirmware(Command):
    """Install the firmware at `location` (core/firmware). With a signing certificate and signature: 1.6
    SignedUpdateFirmware, 2.0.1 UpdateFirmware carrying them; without: 1.6 UpdateFirmware, 2.0.1 UpdateFirmware."""

    location: str
    retrieve_at: datetime
    request_id: int | None = None  # None: the command log id (1.6 plain UpdateFirmware has none)
    install_at: datetime | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    signing_certificate: str | None = None  # PEM
    signature: str | None = None  # base64
    name = "update_firmware"

    @property
    def signed(self) -> bool:
        return self.signing_certificate is not None and self.signature is not None

    def arguments(self) -> dict[str, Any]:
        shown = {**asdict(self), "location": _shown_location(self.location)}
        for secretish in ("signing_certificate", "signature"):  # long; the image record keeps them whole
            if shown[secretish] is not None:
                shown[secretish] = f"({len(shown[secretish])} characters)"
        return shown

    def numbered(self, command_id: int) -> Command:
        return self if self.request_id is not None else replace(self, request_id=command_id)


@dataclass(frozen=True, slots=True)
class PublishFirmware(Command):
    """2.0.1: a local controller downloads the image and serves it to the stations behind it."""

    location: str
    checksum: str  # MD5, hexadecimal, as 2.0.1 names the image
    request_id: int | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    name = "publish_firmware"

    def arguments(self) -> dict[str, Any]:
        return {**asdict(self), "location": _shown_location(self.location)}

    def numbered(self, command_id: int) -> Command:
        return self if self.request_id is not None else replace(self, request_id=command_id)


@dataclass(frozen=True, slots=True)
class UnpublishFirmware(Command):
    """2.0.1: the local controller stops serving the image with this MD5."""

    checksum: str
    name = "unpublish_firmware"


class CertificateUse(enum.StrEnum):
    """Which kind of certificate InstallCertificate / GetInstalledCertificateIds concern (1.6 knows the first two)."""

    CSMS_ROOT = "CentralSystemRootCertificate"  # 2.0.1 calls it CSMSRootCertificate
    MANUFACTURER_ROOT = "ManufacturerRootCertificate"
    V2G_ROOT = "V2GRootCertificate"  # 2.0.1 only
    MO_ROOT = "MORootCertificate"  # 2.0.1 only


@dataclass(frozen=True, slots=True)
class CertificateHash:
    """OCPP CertificateHashData: which installed certificate a station means."""

    hash_algorithm: str  # SHA256, SHA384, SHA512
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str


@dataclass(frozen=True, slots=True)
class CertificateSigned(Command):
    """Hand a station its signed certificate chain (after SignCertificate)."""

    certificate_chain: str  # PEM: the station's certificate first, then the CAs up to (not always including) the root
    certificate_type: str | None = None  # 2.0.1: ChargingStationCertificate or V2GCertificate
    name = "certificate_signed"

    def arguments(self) -> dict[str, Any]:  # the chain is public but long: the log keeps its size
        return {
            "certificate_chain": f"{len(self.certificate_chain)} characters",
            "certificate_type": self.certificate_type,
        }


@dataclass(frozen=True, slots=True)
class InstallCertificate(Command):
    """Install a root certificate the station trusts (the CSMS's, a manufacturer's ...)."""

    certificate_type: CertificateUse
    certificate: str  # PEM
    name = "install_certificate"

    def arguments(self) -> dict[str, Any]:
        return {"certificate_type": str(self.certificate_type), "certificate": f"{len(self.certificate)} characters"}


@dataclass(frozen=True, slots=True)
class DeleteCertificate(Command):
    certificate: CertificateHash
    name = "delete_certificate"


@dataclass(frozen=True, slots=True)
class GetInstalledCertificateIds(Command):
    """The installed certificates of these kinds (none: every kind; 1.6 asks for exactly one)."""

    certificate_types: tuple[CertificateUse, ...] = ()
    name = "get_installed_certificate_ids"


@dataclass(frozen=True, slots=True)
class ExtendedTriggerMessage(Command):
    """1.6 security extension's ExtendedTriggerMessage (SignChargePointCertificate, LogStatusNotification ...);
    a 2.0.1 station is sent TriggerMessage with the same meaning."""

    message: str
    evse_id: int | None = None
    name = "extended_trigger_message"


@dataclass(frozen=True, slots=True)
class SetStationPassword(Command):
    """The station's new Basic Auth password (1.6 AuthorizationKey, 2.0.1 SecurityCtrlr.BasicAuthPassword)."""

    password: str
    name = "set_station_password"

    def arguments(self) -> dict[str, Any]:  # never a password in the command or audit log
        return {"password": "***"}


@dataclass(frozen=True, slots=True)
class SetSecurityProfile(Command):
    """1.6: ChangeConfiguration SecurityProfile. 2.0.1: SetNetworkProfile into `slot` (the station switches to it
    once NetworkConfigurationPriority names it first and it reconnects)."""

    profile: int
    csms_url: str | None = None  # 2.0.1: the address the station connects to with the new profile
    slot: int = 1
    name = "set_security_profile"


@dataclass(frozen=True, slots=True)
class CommandReply:
    """The station's answer: its status word (Accepted, Rejected, ...) and the rest of its payload."""

    status: str
    data: dict[str, Any] = field(default_factory=dict)


class CommandOutcomeKind(enum.StrEnum):
    ANSWERED = "answered"
    CALL_ERROR = "call_error"
    TIMEOUT = "timeout"
    OFFLINE = "offline"
    NOT_SUPPORTED = "not_supported"


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    command_id: int
    station_id: StationId
    command: str
    outcome: CommandOutcomeKind
    status: str | None
    data: dict[str, Any]
    error: str | None
    requested_at: datetime
    finished_at: datetime


class StationCommander(Protocol):
    """Sends a command to the live session of a station; the gateway implements it."""

    async def execute(self, *, station_id: StationId, command: Command) -> CommandReply: ...


@dataclass(frozen=True, slots=True)
class CommandLogEntry:
    station_id: StationId
    command: str
    arguments: dict[str, Any]
    actor: str
    reason: str | None
    requested_at: datetime


class CommandLogRepository(Protocol):
    async def add(self, *, entry: CommandLogEntry) -> int: ...

    async def add_many(self, *, entries: Sequence[CommandLogEntry]) -> list[int]:
        """Insert them all at once; their ids, in order."""
        ...

    async def finish(self, *, outcome: CommandOutcome) -> None:
        """Store the outcome; a remote start the station did not accept releases a transaction that claimed it."""
        ...

    async def finish_many(self, *, outcomes: Sequence[CommandOutcome]) -> None:
        """`finish` for each, at once."""
        ...

    async def open_remote_starts(self, *, station_id: StationId, since: datetime) -> list[tuple[int, dict[str, Any]]]:
        """(id, arguments) of remote starts since then, accepted or not answered yet, that no transaction claims."""
        ...


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """One command of a batch (`CommandService.send_many`)."""

    station_id: StationId
    command: Command
    reason: str | None = None


class CommandUnit(Protocol):
    commands: CommandLogRepository
    audit: AuditRepository


class CommandService:
    def __init__(
        self,
        *,
        store: Store[CommandUnit],
        bus: EventBus,
        clock: Clock,
        commander: StationCommander,
        audit: Auditor | None = None,
    ) -> None:
        self._audit = audit or Auditor(clock=clock)
        self._store = store
        self._bus = bus
        self._clock = clock
        self._commander = commander

    async def send(
        self, *, station_id: StationId, command: Command, actor: str, reason: str | None = None
    ) -> CommandOutcome:
        """Send, wait for the answer, log who asked what and what came back; never hangs past the call timeout."""
        [outcome] = await self.send_many([CommandRequest(station_id, command, reason)], actor=actor)
        if outcome.outcome == CommandOutcomeKind.NOT_SUPPORTED:
            raise CommandNotSupported(outcome.error or f"{outcome.command} is not supported by this station")
        return outcome

    async def send_many(self, requests: Sequence[CommandRequest], *, actor: str) -> list[CommandOutcome]:
        """Send every command at once (a station's own one after another, in order) and wait for every answer,
        each within its own call timeout; one outcome per request, in order.

        Two transactions for the whole batch: the command-log rows before anything is sent, the outcomes and their
        audit entries once every answer is in. A command the station's version cannot express comes back as a
        NOT_SUPPORTED outcome (`send` raises it)."""
        if not requests:
            return []
        requested_at = self._clock.now()
        entries = [
            CommandLogEntry(
                station_id=r.station_id,
                command=r.command.name,
                arguments=_jsonable(r.command.arguments()),
                actor=actor,
                reason=r.reason,
                requested_at=requested_at,
            )
            for r in requests
        ]
        async with self._store.unit() as uow:
            command_ids = await uow.commands.add_many(entries=entries)
        results: list[CommandOutcome | Exception | None] = [None] * len(requests)
        by_station: dict[StationId, list[int]] = {}
        for n, r in enumerate(requests):
            by_station.setdefault(r.station_id, []).append(n)

        async def station(mine: list[int]) -> None:  # a station takes one call at a time: its commands in order
            for n in mine:
                try:
                    results[n] = await self._execute(requests[n], command_ids[n], requested_at)
                except Exception as exc:  # kept for after the others' outcomes are stored
                    results[n] = exc

        await asyncio.gather(*(station(mine) for mine in by_station.values()))
        done = [(o, e) for o, e in zip(results, entries, strict=True) if isinstance(o, CommandOutcome)]
        outcomes = [o for o, _ in done]
        async with self._store.unit() as uow:
            await uow.commands.finish_many(outcomes=outcomes)
            await self._audit.record_many(uow, [self._audited(o, e) for o, e in done])
        for o in outcomes:
            log.info("%s: %s by %s -> %s %s", o.station_id, o.command, actor, o.outcome, o.status or o.error or "")
            self._bus.publish(
                events.CommandFinished(
                    station_id=o.station_id,
                    at=o.finished_at,
                    command_id=o.command_id,
                    command=o.command,
                    outcome=o.outcome,
                    status=o.status,
                )
            )
        for result in results:  # not an outcome: a fault of ours, raised once the others were kept
            if isinstance(result, Exception):
                raise result
        return outcomes

    async def _execute(self, request: CommandRequest, command_id: int, requested_at: datetime) -> CommandOutcome:
        command = request.command.numbered(command_id)
        status: str | None = None
        data: dict[str, Any] = {}
        error: str | None = None
        try:
            reply = await self._commander.execute(station_id=request.station_id, command=command)
            kind, status, data = CommandOutcomeKind.ANSWERED, reply.status, reply.data
        except StationOffline as exc:
            kind, error = CommandOutcomeKind.OFFLINE, exc.message
        except CommandTimeout as exc:
            kind, error = CommandOutcomeKind.TIMEOUT, exc.message
        except CommandCallError as exc:
            kind, status, error = CommandOutcomeKind.CALL_ERROR, exc.ocpp_code, exc.message
        except CommandNotSupported as exc:
            kind, error = CommandOutcomeKind.NOT_SUPPORTED, exc.message
        return CommandOutcome(
            command_id=command_id,
            station_id=request.station_id,
            command=command.name,
            outcome=kind,
            status=status,
            data=data,
            error=error,
            requested_at=requested_at,
            finished_at=self._clock.now(),
        )

    def _audited(self, outcome: CommandOutcome, entry: CommandLogEntry) -> AuditEntry:
        return self._audit.entry(
            actor=entry.actor,
            action=f"command.{outcome.command}",
            target_type="station",
            target_id=outcome.station_id,
            details={
                "command_id": outcome.command_id,
                "arguments": entry.arguments,
                "reason": entry.reason,
                "outcome": str(outcome.outcome),
                "status": outcome.status,
            },
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
