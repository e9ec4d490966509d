"""Station identity, admission, boot, connection state and connector status."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from evscada.core import events
from evscada.core.access.audit import SYSTEM, Auditor, AuditRepository
from evscada.core.errors import (
    AuthenticationFailed,
    InvalidArgument,
    StationConnected,
    StationExists,
    UnknownStation,
)
from evscada.core.model import (
    BootDecision,
    BootInfo,
    RegistrationStatus,
    SecurityProfile,
    SiteId,
    Station,
    StationId,
    StationMessage,
    StatusReport,
)
from evscada.core.ports import Clock, EventBus, PasswordHasher, Store
from evscada.core.stations.repositories import StationMessageRepository, StationRepository, StationStateSink

log = logging.getLogger(__name__)

MAX_STATION_ID_LENGTH = 48  # identity in OCPP 2.0.1 security (and chargeBoxIdentity in practice)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the gateway learnt about a connecting station before the WebSocket handshake completes."""

    password: str | None
    tls: bool
    client_certificate_cn: str | None = None


class StationUnit(Protocol):
    stations: StationRepository
    messages: StationMessageRepository  # security events the CSMS itself saw
    audit: AuditRepository


class StationStore(Store[StationUnit], Protocol):
    @property
    def station_state(self) -> StationStateSink: ...


class StationService:
    def __init__(
        self,
        *,
        store: StationStore,
        bus: EventBus,
        clock: Clock,
        hasher: PasswordHasher,
        heartbeat_interval: int,
        register_unknown: bool,
        audit: Auditor | None = None,
    ) -> None:
        self._audit = audit or Auditor(clock=clock)
        self._store = store
        self._bus = bus
        self._clock = clock
        self._hasher = hasher
        self._heartbeat_interval = heartbeat_interval
        self._register_unknown = register_unknown
        # station id -> password hash it was last verified against, and the password; spares a slow
        # hash on every reconnect of the same station (the hash is tied to the stored hash, so a
        # changed password invalidates it).
        self._verified: dict[StationId, tuple[str, str]] = {}

    async def register(
        self,
        *,
        station_id: StationId,
        security_profile: SecurityProfile = SecurityProfile.NONE,
        password: str | None = None,
        registration: RegistrationStatus = RegistrationStatus.ACCEPTED,
        actor: str = SYSTEM,
    ) -> Station:
        _check_station_id(station_id, security_profile)
        if security_profile in (SecurityProfile.BASIC, SecurityProfile.TLS_BASIC) and not password:
            raise AuthenticationFailed(f"security profile {int(security_profile)} needs a password")
        password_hash = await self._hasher.hash(password) if password else None
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is not None:
                raise StationExists(f"station {station_id} is already registered")
            station = Station(
                id=station_id,
                registration=registration,
                security_profile=security_profile,
                password_hash=password_hash,
            )
            await uow.stations.add(station=station)
            details = {
                "registration": str(registration),
                "security_profile": int(security_profile),
                "password_set": password_hash is not None,
            }
            await self._audit.record(
                uow, actor=actor, action="station.create", target_type="station", target_id=station_id, details=details
            )
        return station

    async def set_registration(
        self, *, station_id: StationId, registration: RegistrationStatus, actor: str = SYSTEM
    ) -> Station:
        """Accept, park (Pending) or reject a station; it learns the answer at its next BootNotification."""
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
            if station is None:
                raise UnknownStation(f"station {station_id} is not registered")
            before = station.registration
            station.registration = registration
            await uow.stations.save(station=station)
            action = "station.accept" if registration == RegistrationStatus.ACCEPTED else "station.registration"
            await self._audit.record(
                uow,
                actor=actor,
                action=action,
                target_type="station",
                target_id=station_id,
                details={"from": str(before), "to": str(registration)},
            )
        log.info("%s: registration set to %s", station_id, registration)
        return station

    async def change(
        self,
        *,
        station_id: StationId,
        registration: RegistrationStatus | None = None,
        security_profile: SecurityProfile | None = None,
        password: str | None = None,
        actor: str = SYSTEM,
    ) -> Station:
        """Change what an operator may change; the station meets the new rules at its next connection."""
        password_hash = await self._hasher.hash(password) if password else None
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
            if station is None:
                raise UnknownStation(f"station {station_id} is not registered")
            profile = station.security_profile if security_profile is None else security_profile
            if profile in (SecurityProfile.BASIC, SecurityProfile.TLS_BASIC) and not (
                password_hash or station.password_hash
            ):
                raise AuthenticationFailed(f"security profile {int(profile)} needs a password")
            _check_station_id(station_id, profile)
            details = _changes(station, registration, profile, password_hash is not None)
            station.security_profile = profile
            if registration is not None:
                station.registration = registration
            if password_hash is not None:
                station.password_hash = password_hash
            await uow.stations.save(station=station)
            if details:
                await self._audit.record(
                    uow,
                    actor=actor,
                    action="station.update",
                    target_type="station",
                    target_id=station_id,
                    details=details,
                )
        log.info(
            "%s: changed (registration %s, profile %d%s)",
            station_id,
            station.registration,
            int(station.security_profile),
            ", new password" if password_hash else "",
        )
        return station

    async def remove(self, *, station_id: StationId, online: bool, actor: str = SYSTEM) -> None:
        """Forget a station; its transactions and history stay. A connected station must be disconnected first."""
        if online:
            raise StationConnected(f"station {station_id} is connected; reset it or block it at the network first")
        async with self._store.unit() as uow:
            if not await uow.stations.delete(station_id=station_id):
                raise UnknownStation(f"station {station_id} is not registered")
            await self._audit.record(
                uow, actor=actor, action="station.delete", target_type="station", target_id=station_id
            )
        log.info("%s: removed", station_id)

    async def list(self) -> list[Station]:
        async with self._store.unit() as uow:
            return await uow.stations.list()

    async def site_of(self, station_id: StationId) -> SiteId | None:
        """The station's site as stored now (None: no site, or no such station)."""
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
        return None if station is None else station.site_id

    async def admit(self, *, station_id: StationId, credentials: Credentials) -> Station:
        """Decide whether a connecting station may open its OCPP session; raises with a reason if not."""
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
            if station is None and self._register_unknown:
                station = Station(id=station_id, registration=RegistrationStatus.PENDING)
                await uow.stations.add(station=station)
                await self._audit.record(
                    uow,
                    actor=SYSTEM,
                    action="station.create",
                    target_type="station",
                    target_id=station_id,
                    details={"registration": str(station.registration), "automatic": True},
                )
                log.warning("%s: unknown station registered as Pending; accept it to let it operate", station_id)
        if station is None:
            raise UnknownStation(f"station {station_id} is not registered")
        try:
            await self._check_credentials(station, credentials)
        except AuthenticationFailed as exc:
            await self.record_security_event(station_id=station_id, kind="AuthenticationFailed", detail=exc.message)
            raise
        return station

    async def _check_credentials(self, station: Station, credentials: Credentials) -> None:
        profile = station.security_profile
        if profile == SecurityProfile.NONE:
            return
        if profile >= SecurityProfile.TLS_BASIC and not credentials.tls:
            raise AuthenticationFailed(f"security profile {int(profile)} requires TLS (wss://)")
        if profile == SecurityProfile.MUTUAL_TLS:
            if credentials.client_certificate_cn != station.id:
                raise AuthenticationFailed("a client certificate whose common name is the station id is required")
            return
        if not credentials.password:
            raise AuthenticationFailed("HTTP Basic Auth credentials are required")
        if station.password_hash is None:
            raise AuthenticationFailed("no password is set for this station; set one before it connects")
        if self._verified.get(station.id) == (station.password_hash, credentials.password):
            return
        if not await self._hasher.verify(station.password_hash, credentials.password):
            raise AuthenticationFailed("wrong password")
        self._verified[station.id] = (station.password_hash, credentials.password)

    async def connected(self, *, station_id: StationId, ocpp_version: str) -> None:
        now = self._clock.now()
        await self._store.station_state.connection(
            station_id=station_id, online=True, at=now, ocpp_version=ocpp_version, reason=None
        )
        self._bus.publish(events.StationConnected(station_id=station_id, at=now, ocpp_version=ocpp_version))

    async def disconnected(self, *, station_id: StationId, reason: str) -> None:
        now = self._clock.now()
        await self._store.station_state.connection(
            station_id=station_id, online=False, at=now, ocpp_version=None, reason=reason
        )
        self._bus.publish(events.StationDisconnected(station_id=station_id, at=now, reason=reason))

    async def boot(self, *, station_id: StationId, info: BootInfo) -> BootDecision:
        now = self._clock.now()
        registration = await self._store.station_state.boot(station_id=station_id, boot=info, at=now)
        if registration is None:
            raise UnknownStation(f"station {station_id} is not registered")
        log.info(
            "%s: boot %s (%s %s, firmware %s)", station_id, registration, info.vendor, info.model, info.firmware_version
        )
        self._bus.publish(events.StationBooted(station_id=station_id, at=now, status=registration))
        return BootDecision(status=registration, current_time=now, interval=self._heartbeat_interval)

    async def registration(self, *, station_id: StationId) -> RegistrationStatus:
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
        if station is None:
            raise UnknownStation(f"station {station_id} is not registered")
        return station.registration

    async def report_status(self, *, station_id: StationId, report: StatusReport) -> None:
        now = self._clock.now()
        changed = await self._store.station_state.status(station_id=station_id, report=report, received_at=now)
        if changed:
            self._bus.publish(
                events.ConnectorStatusChanged(
                    station_id=station_id,
                    at=report.timestamp,
                    evse=report.evse,
                    status=report.status,
                    error_code=report.error_code,
                )
            )

    async def record_security_event(self, *, station_id: StationId, kind: str, detail: str) -> None:
        """A security event seen by the CSMS itself (wrong password, refused TLS ...)."""
        now = self._clock.now()
        log.warning("%s: security event %s: %s", station_id, kind, detail)
        async with self._store.unit() as uow:
            if await uow.stations.get(station_id=station_id) is not None:
                await uow.messages.add(
                    station_id=station_id,
                    message=StationMessage(
                        kind="csms_security_event",
                        timestamp=now,
                        payload={"type": kind, "detail": detail},
                        summary=f"{kind}: {detail}",
                    ),
                    received_at=now,
                )
        self._bus.publish(events.SecurityEventRaised(station_id=station_id, at=now, kind=kind, detail=detail))


def _check_station_id(station_id: StationId, security_profile: SecurityProfile) -> None:
    """Refuse ids a station could never connect with, rather than register them."""
    if not 0 < len(station_id) <= MAX_STATION_ID_LENGTH or not station_id.isprintable():
        raise InvalidArgument(f"a station id is 1 to {MAX_STATION_ID_LENGTH} printable characters: {station_id!r}")
    if ":" in station_id and security_profile in (SecurityProfile.BASIC, SecurityProfile.TLS_BASIC):
        # RFC 7617: the Basic Auth user cannot contain a colon, and the user must be the station id.
        raise InvalidArgument(f"station id {station_id!r} contains ':', which Basic Auth (profiles 1, 2) cannot carry")


def _changes(
    station: Station, registration: RegistrationStatus | None, profile: SecurityProfile, new_password: bool
) -> dict[str, object]:
    """What a change alters, for the audit log: old and new values; of a password only that it changed."""
    changed: dict[str, object] = {}
    if registration is not None and registration != station.registration:
        changed["registration"] = {"from": str(station.registration), "to": str(registration)}
    if profile != station.security_profile:
        changed["security_profile"] = {"from": int(station.security_profile), "to": int(profile)}
    if new_password:
        changed["password_changed"] = True
    return changed
