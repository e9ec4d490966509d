"""Station certificates and security profiles: signing requests and the certificates issued (built-in CA) or
installed (external CA), the certificate commands (install, delete, list installed, trigger a new CSR), expiring
certificates, and raising a station's security profile without locking it out."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, field_validator

from evscada.api.deps import Admin, CoreDep, Operator, Viewer
from evscada.api.params import Id
from evscada.api.routes.commands import FAILURE_DOCS, CommandBody, raise_failure
from evscada.api.schemas import CommandOut
from evscada.core.access.users import User
from evscada.core.certificates.authority import CsrRefused
from evscada.core.certificates.model import (
    AuthorityMode,
    CertificateState,
    RequestStatus,
    SecurityUpgrade,
    SigningRequest,
    StationCertificate,
    UpgradeState,
)
from evscada.core.control import commands as c
from evscada.core.errors import StationOffline
from evscada.core.model import StationId
from evscada.core.services import Core

router = APIRouter(tags=["certificates"])

PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----")
HEX = r"^[0-9a-fA-F]+$"


def _pem(value: str) -> str:
    if not PEM_CERTIFICATE.search(value):
        raise ValueError("not a PEM certificate: send the text from -----BEGIN CERTIFICATE----- to -----END ...-----")
    return value


class CertificateOut(BaseModel):
    id: int
    station_id: str
    serial: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    state: CertificateState
    source: AuthorityMode
    issued_at: datetime
    request_id: int | None
    renewal_requested_at: datetime | None
    renewal_problem: str | None
    pem: str

    @classmethod
    def of(cls, cert: StationCertificate) -> CertificateOut:
        return cls(
            id=cert.id,
            station_id=cert.station_id,
            serial=cert.serial,
            subject=cert.subject,
            issuer=cert.issuer,
            not_before=cert.not_before,
            not_after=cert.not_after,
            state=cert.state,
            source=cert.source,
            issued_at=cert.issued_at,
            request_id=cert.request_id,
            renewal_requested_at=cert.renewal_requested_at,
            renewal_problem=cert.renewal_problem,
            pem=cert.pem,
        )


class SigningRequestOut(BaseModel):
    id: int
    station_id: str
    certificate_type: str
    status: RequestStatus
    reason: str | None
    certificate_id: int | None
    received_at: datetime
    updated_at: datetime
    csr: str

    @classmethod
    def of(cls, r: SigningRequest) -> SigningRequestOut:
        return cls(
            id=r.id,
            station_id=r.station_id,
            certificate_type=r.certificate_type,
            status=r.status,
            reason=r.reason,
            certificate_id=r.certificate_id,
            received_at=r.received_at,
            updated_at=r.updated_at,
            csr=r.csr,
        )


class SignedBody(BaseModel):
    certificate_chain: str = Field(
        min_length=1, max_length=10_000, description="PEM: the station's certificate first, then its issuing CAs"
    )

    _pem = field_validator("certificate_chain")(_pem)


class InstalledOut(BaseModel):
    certificate: CertificateOut
    command: CommandOut


class InstallBody(CommandBody):
    certificate_type: c.CertificateUse = Field(description="which root the station is to trust")
    certificate: str = Field(min_length=1, max_length=5500, description="the root certificate, PEM")

    _pem = field_validator("certificate")(_pem)


class CertificateHashBody(CommandBody):
    hash_algorithm: str = Field("SHA256", pattern="^(SHA256|SHA384|SHA512)$")
    issuer_name_hash: str = Field(min_length=1, max_length=128, pattern=HEX)
    issuer_key_hash: str = Field(min_length=1, max_length=128, pattern=HEX)
    serial_number: str = Field(min_length=1, max_length=40, pattern=HEX)


class InstalledIdsBody(CommandBody):
    certificate_types: list[c.CertificateUse] = Field(
        default_factory=list, max_length=4, description="the kinds to list; empty: all (1.6: exactly one)"
    )


class TriggerBody(CommandBody):
    message: str = Field(
        "SignChargePointCertificate",
        pattern="^(BootNotification|LogStatusNotification|FirmwareStatusNotification|Heartbeat|MeterValues"
        "|SignChargePointCertificate|SignChargingStationCertificate|StatusNotification)$",
        description="what the station is to send (SignChargePointCertificate: a new CSR)",
    )
    evse_id: int | None = Field(None, ge=0, le=1000)


class SecurityProfileBody(BaseModel):
    profile: int = Field(ge=1, le=3, description="the security profile to raise the station to (1, 2 or 3)")
    csms_url: str | None = Field(
        None,
        pattern=r"^wss?://[^/\s]+(/\S*)?$",
        description="2.0.1: the address (ws[s]://host:port/path, without the station id) it connects to next",
    )
    slot: int = Field(1, ge=0, le=9, description="2.0.1: the network configuration slot for the new profile")


class SecurityUpgradeOut(BaseModel):
    id: int
    station_id: str
    from_profile: int
    to_profile: int
    new_password: bool
    state: UpgradeState
    requested_at: datetime
    requested_by: str
    updated_at: datetime
    detail: str | None

    @classmethod
    def of(cls, u: SecurityUpgrade) -> SecurityUpgradeOut:
        return cls(
            id=u.id,
            station_id=u.station_id,
            from_profile=u.from_profile,
            to_profile=u.to_profile,
            new_password=u.password_hash is not None,
            state=u.state,
            requested_at=u.requested_at,
            requested_by=u.requested_by,
            updated_at=u.updated_at,
            detail=u.detail,
        )


class SecurityUpgradeResult(BaseModel):
    upgrade: SecurityUpgradeOut
    commands: list[CommandOut]


async def _known(core: Core, station_id: str) -> StationId:
    await core.queries.station(station_id=StationId(station_id))  # 404 for an unknown station
    return StationId(station_id)


@router.get("/certificates", response_model=list[CertificateOut])
async def certificates(
    core: CoreDep,
    _: Viewer,
    expiring_within_days: Annotated[
        float | None, Query(gt=0, le=3650, description="only active certificates expiring within this many days")
    ] = None,
) -> list[CertificateOut]:
    """Every tracked station certificate, soonest expiry first."""
    found = await core.certificates.certificates(expiring_within_days=expiring_within_days)
    return [CertificateOut.of(cert) for cert in found]


@router.get("/certificates/expiring", response_model=list[CertificateOut])
async def expiring(core: CoreDep, _: Viewer) -> list[CertificateOut]:
    """Active certificates within the renewal window (certificates.renew_before_days)."""
    days = core.certificates.config.renew_before.total_seconds() / 86_400
    return [CertificateOut.of(cert) for cert in await core.certificates.certificates(expiring_within_days=days)]


@router.get("/stations/{station_id}/certificates", response_model=list[CertificateOut])
async def station_certificates(station_id: str, core: CoreDep, _: Viewer) -> list[CertificateOut]:
    sid = await _known(core, station_id)
    return [CertificateOut.of(cert) for cert in await core.certificates.certificates(station_id=sid)]


@router.get("/stations/{station_id}/certificates/requests", response_model=list[SigningRequestOut])
async def signing_requests(station_id: str, core: CoreDep, _: Viewer) -> list[SigningRequestOut]:
    """The station's certificate signing requests, newest first, each with its status and any refusal's reason."""
    sid = await _known(core, station_id)
    return [SigningRequestOut.of(r) for r in await core.certificates.requests(station_id=sid)]


@router.get("/certificates/requests/{request_id}", response_model=SigningRequestOut)
async def signing_request(request_id: Id, core: CoreDep, _: Viewer) -> SigningRequestOut:
    return SigningRequestOut.of(await core.certificates.request(request_id=request_id))


@router.post(
    "/stations/{station_id}/certificates/signed",
    response_model=InstalledOut,
    responses={**FAILURE_DOCS, 422: {"description": "not a PEM certificate, or not for this station"}},
)
async def install_signed(station_id: str, body: SignedBody, core: CoreDep, user: Operator) -> InstalledOut:
    """A certificate signed by an external CA for this station: tracked, then sent with CertificateSigned."""
    sid = await _known(core, station_id)
    try:
        delivery = await core.certificates.install_signed(
            station_id=sid, chain=body.certificate_chain, actor=user.username
        )
    except CsrRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    command = CommandOut.of(delivery.outcome)
    raise_failure(command)
    return InstalledOut(certificate=CertificateOut.of(delivery.certificate), command=command)


async def _send(core: Core, station_id: str, command: c.Command, user: User, reason: str | None) -> CommandOut:
    sid = await _known(core, station_id)
    outcome = await core.commands.send(station_id=sid, command=command, actor=user.username, reason=reason)
    result = CommandOut.of(outcome)
    raise_failure(result)
    return result


@router.post("/stations/{station_id}/certificates/install", response_model=CommandOut, responses=FAILURE_DOCS)
async def install_certificate(station_id: str, body: InstallBody, core: CoreDep, user: Operator) -> CommandOut:
    """InstallCertificate: a root certificate the station is to trust."""
    command = c.InstallCertificate(certificate_type=body.certificate_type, certificate=body.certificate)
    return await _send(core, station_id, command, user, body.reason)


@router.post("/stations/{station_id}/certificates/delete", response_model=CommandOut, responses=FAILURE_DOCS)
async def delete_certificate(station_id: str, body: CertificateHashBody, core: CoreDep, user: Operator) -> CommandOut:
    """DeleteCertificate: an installed certificate, named by its hash data (from installed-ids)."""
    ref = c.CertificateHash(body.hash_algorithm, body.issuer_name_hash, body.issuer_key_hash, body.serial_number)
    return await _send(core, station_id, c.DeleteCertificate(certificate=ref), user, body.reason)


@router.post("/stations/{station_id}/certificates/installed-ids", response_model=CommandOut, responses=FAILURE_DOCS)
async def installed_ids(station_id: str, body: InstalledIdsBody, core: CoreDep, user: Operator) -> CommandOut:
    """GetInstalledCertificateIds: the station's answer lists the certificates' hash data."""
    command = c.GetInstalledCertificateIds(certificate_types=tuple(body.certificate_types))
    return await _send(core, station_id, command, user, body.reason)


@router.post("/stations/{station_id}/certificates/trigger", response_model=CommandOut, responses=FAILURE_DOCS)
async def extended_trigger(station_id: str, body: TriggerBody, core: CoreDep, user: Operator) -> CommandOut:
    """1.6 ExtendedTriggerMessage (2.0.1: TriggerMessage); by default asks the station for a new CSR."""
    command = c.ExtendedTriggerMessage(message=body.message, evse_id=body.evse_id)
    return await _send(core, station_id, command, user, body.reason)


@router.post(
    "/stations/{station_id}/security-profile",
    response_model=SecurityUpgradeResult,
    responses={
        **FAILURE_DOCS,
        422: {"description": "a profile that is not higher, or profile 3 without a certificate"},
    },
)
async def raise_security_profile(
    station_id: str, body: SecurityProfileBody, core: CoreDep, user: Admin
) -> SecurityUpgradeResult:
    """Raise the station's security profile: its new credentials are accepted beside the old ones first, then it is
    told; the old ones are withdrawn once it has connected with the new profile (GET .../security-profile)."""
    sid = await _known(core, station_id)
    try:
        started = await core.security_profiles.start(
            station_id=sid, profile=body.profile, actor=user.username, csms_url=body.csms_url, slot=body.slot
        )
    except StationOffline as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, exc.message) from None
    return SecurityUpgradeResult(
        upgrade=SecurityUpgradeOut.of(started.upgrade), commands=[CommandOut.of(o) for o in started.outcomes]
    )


@router.get("/stations/{station_id}/security-profile", response_model=list[SecurityUpgradeOut])
async def security_upgrades(station_id: str, core: CoreDep, _: Viewer) -> list[SecurityUpgradeOut]:
    """The station's security profile upgrades, newest first (pending: both old and new credentials work)."""
    sid = await _known(core, station_id)
    return [SecurityUpgradeOut.of(u) for u in await core.security_profiles.upgrades(station_id=sid)]
