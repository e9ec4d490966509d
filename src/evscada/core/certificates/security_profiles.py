"""Raising a station's security profile without ever locking it out.

The order: the new password (and profile) are stored as a pending upgrade, accepted beside the old credentials,
BEFORE the station is told; then the station is told (1.6: AuthorizationKey, then SecurityProfile; 2.0.1:
SecurityCtrlr.BasicAuthPassword, SetNetworkProfile, NetworkConfigurationPriority, Reset); the old credentials are
withdrawn only once the station has connected with the new profile. Whatever step fails, the station can still
connect with what it has.
"""

from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass
from typing import Protocol

from evscada.core.access.audit import Auditor, AuditRepository
from evscada.core.certificates.model import CertificateState, SecurityUpgrade, UpgradeState
from evscada.core.certificates.service import CertificateRepository
from evscada.core.control import commands as c
from evscada.core.errors import InvalidArgument, StationOffline, UnknownStation
from evscada.core.model import SecurityProfile, Station, StationId
from evscada.core.ports import Clock, PasswordHasher, Store
from evscada.core.stations.repositories import StationRepository
from evscada.core.stations.service import Credentials

log = logging.getLogger(__name__)

PASSWORD_LENGTH = 20  # 1.6: 16 to 20 bytes, sent as 40 hex digits; 2.0.1: 16 to 40 characters (about 119 bits)
PASSWORD_ALPHABET = string.ascii_letters + string.digits


class SecurityUpgradeRepository(Protocol):
    async def pending_upgrades(self) -> list[SecurityUpgrade]: ...

    async def upgrades(self, *, station_id: StationId) -> list[SecurityUpgrade]:
        """Newest first."""
        ...

    async def save_upgrade(self, *, upgrade: SecurityUpgrade) -> int:
        """Insert (id 0) or update; its id."""
        ...

    async def has_certificate(self, *, station_id: StationId, states: tuple[CertificateState, ...]) -> bool: ...


class CertificateRecords(CertificateRepository, SecurityUpgradeRepository, Protocol):
    """Both, as storage provides them in one repository."""


class UpgradeUnit(Protocol):
    stations: StationRepository
    certificates: SecurityUpgradeRepository
    audit: AuditRepository


@dataclass(frozen=True, slots=True)
class UpgradeStarted:
    upgrade: SecurityUpgrade
    outcomes: list[c.CommandOutcome]  # what the station answered to each step, in order


def _meets(profile: int, credentials: Credentials, station_id: StationId) -> bool:
    """Does the connection meet the transport part of a profile (TLS, client certificate)?"""
    if profile >= SecurityProfile.TLS_BASIC and not credentials.tls:
        return False
    if profile == SecurityProfile.MUTUAL_TLS:
        return credentials.client_certificate_cn == station_id
    return True


class SecurityProfileService:
    def __init__(
        self,
        *,
        store: Store[UpgradeUnit],
        clock: Clock,
        hasher: PasswordHasher,
        commands: c.CommandService,
        audit: Auditor | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._hasher = hasher
        self._commands = commands
        self._audit = audit or Auditor(clock=clock)
        self._pending: dict[StationId, SecurityUpgrade] | None = None  # loaded on first use: admission asks often

    async def _pending_upgrades(self) -> dict[StationId, SecurityUpgrade]:
        if self._pending is None:
            async with self._store.unit() as uow:
                self._pending = {u.station_id: u for u in await uow.certificates.pending_upgrades()}
        return self._pending

    async def upgrades(self, *, station_id: StationId) -> list[SecurityUpgrade]:
        async with self._store.unit() as uow:
            return await uow.certificates.upgrades(station_id=station_id)

    async def start(
        self, *, station_id: StationId, profile: int, actor: str, csms_url: str | None = None, slot: int = 1
    ) -> UpgradeStarted:
        """Accept the new credentials, then tell the station; raises before anything is stored when the change
        cannot work (unknown or offline station, a lower profile, profile 3 without a certificate)."""
        pending = await self._pending_upgrades()
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
            if station is None:
                raise UnknownStation(f"station {station_id} is not registered")
            if profile not in range(4):
                raise InvalidArgument("profile: a security profile is 0, 1, 2 or 3", field="profile")
            if profile <= station.security_profile:
                raise InvalidArgument(
                    f"profile: station {station_id} is at profile {int(station.security_profile)}; "
                    "only a higher profile is set here (a lower one is set on the station record)",
                    field="profile",
                )
            if profile == SecurityProfile.MUTUAL_TLS and not await uow.certificates.has_certificate(
                station_id=station_id, states=(CertificateState.ACTIVE,)
            ):
                raise InvalidArgument(
                    f"profile: station {station_id} holds no certificate from this CSMS; have it send a signing "
                    "request (SignCertificate) and accept the certificate first",
                    field="profile",
                )
            if not station.online:
                raise StationOffline(f"station {station_id} is offline; it must be connected to be told")
            if station.ocpp_version != "1.6" and profile != station.security_profile and not csms_url:
                raise InvalidArgument(
                    "csms_url: a 2.0.1 station changes profile with SetNetworkProfile, which needs the address "
                    "(wss://host:port/path) it connects to next",
                    field="csms_url",
                )
        password = None
        if profile in (SecurityProfile.BASIC, SecurityProfile.TLS_BASIC):
            password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        now = self._clock.now()
        upgrade = SecurityUpgrade(
            station_id=station_id,
            from_profile=int(station.security_profile),
            to_profile=profile,
            password_hash=await self._hasher.hash(password) if password else None,
            state=UpgradeState.PENDING,
            requested_at=now,
            requested_by=actor,
            updated_at=now,
        )
        async with self._store.unit() as uow:
            earlier = pending.get(station_id)
            if earlier is not None:
                earlier.state, earlier.updated_at, earlier.detail = UpgradeState.CANCELLED, now, "replaced"
                await uow.certificates.save_upgrade(upgrade=earlier)
            upgrade.id = await uow.certificates.save_upgrade(upgrade=upgrade)
            await self._audit.record(
                uow,
                actor=actor,
                action="station.security_upgrade",
                target_type="station",
                target_id=station_id,
                details={"from": upgrade.from_profile, "to": profile, "password_changed": password is not None},
            )
        pending[station_id] = upgrade  # accepted from now on, before the station hears of it
        outcomes = await self._tell(station, upgrade, password, url=csms_url, slot=slot, actor=actor)
        refused = next((o for o in outcomes if not _accepted(o)), None)
        if refused is not None:
            upgrade.detail = f"{refused.command}: {refused.status or refused.error}"
            if refused.command == "set_station_password":  # the station kept its old password: nothing changed
                upgrade.state = UpgradeState.CANCELLED
                pending.pop(station_id, None)
            upgrade.updated_at = self._clock.now()
            async with self._store.unit() as uow:
                await uow.certificates.save_upgrade(upgrade=upgrade)
            log.warning("%s: security profile upgrade stopped at %s", station_id, upgrade.detail)
        return UpgradeStarted(upgrade=upgrade, outcomes=outcomes)

    async def _tell(
        self,
        station: Station,
        upgrade: SecurityUpgrade,
        password: str | None,
        *,
        url: str | None,
        slot: int,
        actor: str,
    ) -> list[c.CommandOutcome]:
        steps: list[c.Command] = []
        if password is not None:
            steps.append(c.SetStationPassword(password=password))
        if station.ocpp_version == "1.6":
            steps.append(c.SetSecurityProfile(profile=upgrade.to_profile))
        else:
            steps += [
                c.SetSecurityProfile(profile=upgrade.to_profile, csms_url=url, slot=slot),
                c.ChangeSetting(
                    setting=c.SettingRef(name="NetworkConfigurationPriority", component="OCPPCommCtrlr"),
                    value=f"{slot},0" if slot else "0",
                ),
                c.Reset(kind=c.ResetKind.SOFT),
            ]
        outcomes = []
        reason = f"security profile {upgrade.from_profile} -> {upgrade.to_profile}"
        for step in steps:  # in order, stopping at the first refusal: later steps rely on earlier ones
            outcome = await self._commands.send(station_id=station.id, command=step, actor=actor, reason=reason)
            outcomes.append(outcome)
            if not _accepted(outcome):
                break
        return outcomes

    async def admit(self, *, station_id: StationId, credentials: Credentials) -> Station | None:
        """During an upgrade: the station if it presents the new credentials (completing the upgrade when the
        connection meets the new profile); None: no upgrade, or not the new credentials (the old ones are then
        checked as usual)."""
        pending = await self._pending_upgrades()
        upgrade = pending.get(station_id)
        if upgrade is None:
            return None
        if upgrade.password_hash is not None:
            if not credentials.password or not await self._hasher.verify(upgrade.password_hash, credentials.password):
                return None
        elif not _meets(upgrade.to_profile, credentials, station_id):
            return None
        complete = _meets(upgrade.to_profile, credentials, station_id)
        if not complete and not _meets(upgrade.from_profile, credentials, station_id):
            return None
        async with self._store.unit() as uow:
            station = await uow.stations.get(station_id=station_id)
            if station is None:
                return None
            if complete:
                station.security_profile = SecurityProfile(upgrade.to_profile)
                if upgrade.password_hash is not None:
                    station.password_hash = upgrade.password_hash
                await uow.stations.save(station=station)
                upgrade.state, upgrade.updated_at = UpgradeState.COMPLETED, self._clock.now()
                upgrade.detail = "connected with the new profile; the old credentials are withdrawn"
                await uow.certificates.save_upgrade(upgrade=upgrade)
                await self._audit.record(
                    uow,
                    actor="system",
                    action="station.security_upgrade_completed",
                    target_type="station",
                    target_id=station_id,
                    details={"profile": upgrade.to_profile},
                )
        if complete:
            pending.pop(station_id, None)
            log.info("%s: now at security profile %d; old credentials withdrawn", station_id, upgrade.to_profile)
        return station


def _accepted(outcome: c.CommandOutcome) -> bool:
    return outcome.outcome is c.CommandOutcomeKind.ANSWERED and outcome.status in ("Accepted", "RebootRequired")
