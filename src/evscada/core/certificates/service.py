"""Stations' certificates: signing requests checked and signed (or kept for an external CA), certificates handed to
stations with CertificateSigned, tracked, and renewed before they expire (an alarm when a renewal fails)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from evscada.core.access.audit import SYSTEM, Auditor, AuditRepository
from evscada.core.alarms.service import AlarmService
from evscada.core.certificates.authority import (
    CertificateAuthority,
    CertificateInfo,
    CsrRefused,
    check_csr,
    describe,
    read_certificate,
    read_csr,
)
from evscada.core.certificates.model import (
    AuthorityMode,
    CertificateConfig,
    CertificateState,
    RequestStatus,
    SigningRequest,
    StationCertificate,
)
from evscada.core.control import commands as c
from evscada.core.errors import InvalidArgument, NotFound
from evscada.core.model import AlarmPriority, StationId
from evscada.core.ports import Clock, Store

log = logging.getLogger(__name__)

ALARM_SOURCE = "certificate"
STATION_CERTIFICATE = "ChargingStationCertificate"
V2G_CERTIFICATE = "V2GCertificate"

# Sends an OCSP request (DER) to the configured responder and returns its response (DER); integrations/ocsp.py.
OcspFetch = Callable[[str, bytes], Awaitable[bytes]]


class CertificateRepository(Protocol):
    async def add_request(self, *, request: SigningRequest) -> int: ...

    async def update_request(
        self, *, request_id: int, status: RequestStatus, reason: str | None, certificate_id: int | None, at: datetime
    ) -> None: ...

    async def request(self, *, request_id: int) -> SigningRequest | None: ...

    async def requests(
        self, *, station_id: StationId | None = None, status: RequestStatus | None = None, limit: int = 100
    ) -> list[SigningRequest]:
        """Newest first."""
        ...

    async def add_certificate(self, *, certificate: StationCertificate) -> int: ...

    async def certificate(self, *, certificate_id: int) -> StationCertificate | None: ...

    async def set_state(self, *, certificate_id: int, state: CertificateState) -> None: ...

    async def supersede(self, *, station_id: StationId, keep_id: int) -> int:
        """Mark the station's other active certificates superseded; how many."""
        ...

    async def certificates(
        self,
        *,
        station_id: StationId | None = None,
        states: Sequence[CertificateState] = (),
        expiring_before: datetime | None = None,
        limit: int = 1000,
    ) -> list[StationCertificate]:
        """Soonest expiry first."""
        ...

    async def renewal(self, *, certificate_id: int, requested_at: datetime, problem: str | None) -> None: ...


class CertificateUnit(Protocol):
    certificates: CertificateRepository
    audit: AuditRepository


@dataclass(frozen=True, slots=True)
class SignedDelivery:
    """What installing a certificate did: the certificate tracked and the station's answer to CertificateSigned."""

    certificate: StationCertificate
    outcome: c.CommandOutcome


@dataclass(frozen=True, slots=True)
class CertificateStatusAnswer:
    """2.0.1 GetCertificateStatus's answer: Accepted with the OCSP response (base64 DER), or Failed and why."""

    status: str
    ocsp_result: str | None = None
    reason: str | None = None


class CertificateService:
    def __init__(
        self,
        *,
        store: Store[CertificateUnit],
        clock: Clock,
        commands: c.CommandService,
        alarms: AlarmService,
        config: CertificateConfig,
        authority: CertificateAuthority | Callable[[], CertificateAuthority] | None = None,
        ocsp_fetch: OcspFetch | None = None,
        audit: Auditor | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._commands = commands
        self._alarms = alarms
        self.config = config
        # None: none in this process (CLI tools), requests are refused; a callable makes or loads it on first use.
        self._authority = authority
        self._authority_lock = asyncio.Lock()
        self._ocsp_fetch = ocsp_fetch
        self._audit = audit or Auditor(clock=clock)
        self._deliveries: set[asyncio.Task[None]] = set()

    # ---- signing requests (SignCertificate) -------------------------------------------------------------------

    async def signing_request(self, *, station_id: StationId, csr: str, certificate_type: str | None) -> bool:
        """Check and keep a station's CSR; True: answer Accepted. A signed certificate follows in the background
        (CertificateSigned after the answer); a refused request is kept with its reason."""
        now = self._clock.now()
        kind = certificate_type or STATION_CERTIFICATE
        request = SigningRequest(station_id, csr, kind, RequestStatus.REJECTED, now, now)
        certificate: StationCertificate | None = None
        chain = ""
        try:
            parsed = check_csr(csr, station_id=station_id, organisation=self.config.organisation)
            if self.config.mode is AuthorityMode.EXTERNAL:
                request.status = RequestStatus.AWAITING_OPERATOR
            elif kind == V2G_CERTIFICATE:
                raise CsrRefused("V2G certificates are signed by an ISO 15118 PKI, not by this CSMS's station CA")
            elif (authority := await self.authority()) is None:
                raise CsrRefused("no certificate authority is configured in this process")
            else:
                signed = authority.sign(parsed, now=now, validity=self.config.validity)
                chain = authority.chain_pem(signed)
                certificate = self._tracked(station_id, describe(signed), AuthorityMode.BUILTIN, now)
                request.status = RequestStatus.SIGNED
        except CsrRefused as refused:
            request.reason = str(refused)
        async with self._store.unit() as uow:
            request.id = await uow.certificates.add_request(request=request)
            if certificate is not None:
                certificate.request_id = request.id
                certificate.id = await uow.certificates.add_certificate(certificate=certificate)
                await uow.certificates.update_request(
                    request_id=request.id, status=request.status, reason=None, certificate_id=certificate.id, at=now
                )
        if request.status is RequestStatus.REJECTED:
            log.warning("%s: certificate signing request refused: %s", station_id, request.reason)
            await self._renewal_failed(station_id, f"its signing request was refused: {request.reason}")
            return False
        if certificate is None:
            log.info("%s: certificate signing request %d awaits an operator (external CA)", station_id, request.id)
            return True
        log.info("%s: certificate %s signed (request %d)", station_id, certificate.serial, request.id)
        task = asyncio.create_task(self._deliver_later(request.id, certificate, chain, kind), name="certificate")
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)
        return True

    async def authority(self) -> CertificateAuthority | None:
        """The built-in CA, loaded (or made) from its files the first time it is needed, off the event loop."""
        async with self._authority_lock:
            if callable(self._authority) and not isinstance(self._authority, CertificateAuthority):
                self._authority = await asyncio.to_thread(self._authority)
            return self._authority

    async def deliveries_done(self) -> None:
        """Wait for the CertificateSigned calls under way (tests; shutdown)."""
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def _deliver_later(self, request_id: int, certificate: StationCertificate, chain: str, kind: str) -> None:
        await asyncio.sleep(self.config.delivery_delay_seconds)  # the SignCertificate answer goes first
        try:
            await self._deliver(request_id, certificate, chain, kind, actor=SYSTEM)
        except Exception:  # a background task: its failure is logged, the request stays "signed"
            log.exception("%s: sending certificate %s failed", certificate.station_id, certificate.serial)

    async def _deliver(
        self, request_id: int | None, certificate: StationCertificate, chain: str, kind: str, *, actor: str
    ) -> c.CommandOutcome:
        outcome = await self._commands.send(
            station_id=certificate.station_id,
            command=c.CertificateSigned(certificate_chain=chain, certificate_type=kind),
            actor=actor,
            reason=f"certificate signing request {request_id}" if request_id else "certificate installed by operator",
        )
        accepted = outcome.outcome is c.CommandOutcomeKind.ANSWERED and outcome.status == "Accepted"
        now = self._clock.now()
        problem = None if accepted else f"the station answered CertificateSigned with {outcome.status or outcome.error}"
        async with self._store.unit() as uow:
            if accepted:
                await uow.certificates.set_state(certificate_id=certificate.id, state=CertificateState.ACTIVE)
                await uow.certificates.supersede(station_id=certificate.station_id, keep_id=certificate.id)
            else:
                await uow.certificates.set_state(certificate_id=certificate.id, state=CertificateState.REFUSED)
            if request_id is not None:
                await uow.certificates.update_request(
                    request_id=request_id,
                    status=RequestStatus.DELIVERED if accepted else RequestStatus.DELIVERY_FAILED,
                    reason=problem,
                    certificate_id=certificate.id,
                    at=now,
                )
        certificate.state = CertificateState.ACTIVE if accepted else CertificateState.REFUSED
        if accepted:
            await self._alarms.clear(key=self._alarm_key(certificate.station_id))
        else:
            log.warning("%s: certificate %s not installed: %s", certificate.station_id, certificate.serial, problem)
            await self._renewal_failed(certificate.station_id, problem or "")
        return outcome

    def _tracked(
        self, station_id: StationId, info: CertificateInfo, source: AuthorityMode, now: datetime
    ) -> StationCertificate:
        return StationCertificate(
            station_id=station_id,
            serial=info.serial,
            subject=info.subject,
            issuer=info.issuer,
            not_before=info.not_before,
            not_after=info.not_after,
            state=CertificateState.ISSUED,
            issued_at=now,
            pem=info.pem,
            source=source,
        )

    # ---- an external CA's certificate, installed by an operator -------------------------------------------------

    async def install_signed(self, *, station_id: StationId, chain: str, actor: str) -> SignedDelivery:
        """A chain signed elsewhere for the station (external mode, or any time): checked, tracked, and sent with
        CertificateSigned; the station's answer decides whether it becomes the active one."""
        first = read_certificate(chain)
        names = first.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        common_name = str(names[0].value) if names else None
        if common_name != station_id:
            raise InvalidArgument(
                f"the certificate's common name is {common_name!r}; it must be the station id {station_id!r}",
                field="certificate_chain",
            )
        now = self._clock.now()
        async with self._store.unit() as uow:
            waiting = await uow.certificates.requests(
                station_id=station_id, status=RequestStatus.AWAITING_OPERATOR, limit=1
            )
        if waiting and not _same_key(first, read_csr(waiting[0].csr)):
            raise InvalidArgument(
                f"the certificate does not certify the key of the station's signing request {waiting[0].id}; "
                "sign that CSR",
                field="certificate_chain",
            )
        if first.not_valid_after_utc <= now:
            raise InvalidArgument(
                f"the certificate expired at {first.not_valid_after_utc.isoformat()}", field="certificate_chain"
            )
        certificate = self._tracked(station_id, describe(first), AuthorityMode.EXTERNAL, now)
        async with self._store.unit() as uow:
            request_id = waiting[0].id if waiting else None
            certificate.request_id = request_id
            certificate.id = await uow.certificates.add_certificate(certificate=certificate)
            if request_id is not None:
                await uow.certificates.update_request(
                    request_id=request_id,
                    status=RequestStatus.SIGNED,
                    reason=None,
                    certificate_id=certificate.id,
                    at=now,
                )
            await self._audit.record(
                uow,
                actor=actor,
                action="certificate.install_signed",
                target_type="station",
                target_id=station_id,
                details={"serial": certificate.serial, "not_after": certificate.not_after.isoformat()},
            )
        kind = waiting[0].certificate_type if waiting else STATION_CERTIFICATE
        outcome = await self._deliver(request_id, certificate, chain, kind, actor=actor)
        return SignedDelivery(certificate=certificate, outcome=outcome)

    # ---- reads --------------------------------------------------------------------------------------------------

    async def certificates(
        self, *, station_id: StationId | None = None, expiring_within_days: float | None = None
    ) -> list[StationCertificate]:
        """Tracked certificates, soonest expiry first; `expiring_within_days`: the station's active ones expiring
        by then."""
        expiring_before = None
        states: tuple[CertificateState, ...] = ()
        if expiring_within_days is not None:
            expiring_before = self._clock.now() + timedelta(days=expiring_within_days)
            states = (CertificateState.ACTIVE,)
        async with self._store.unit() as uow:
            return await uow.certificates.certificates(
                station_id=station_id, states=states, expiring_before=expiring_before
            )

    async def requests(self, *, station_id: StationId | None = None, limit: int = 100) -> list[SigningRequest]:
        async with self._store.unit() as uow:
            return await uow.certificates.requests(station_id=station_id, limit=limit)

    async def request(self, *, request_id: int) -> SigningRequest:
        async with self._store.unit() as uow:
            request = await uow.certificates.request(request_id=request_id)
        if request is None:
            raise NotFound(f"certificate signing request {request_id} does not exist")
        return request

    # ---- renewal ------------------------------------------------------------------------------------------------

    async def check_renewals(self) -> int:
        """Ask every station whose active certificate expires within renew_before for a new CSR (1.6:
        ExtendedTriggerMessage, 2.0.1: TriggerMessage); an alarm when it cannot be asked. How many were asked."""
        now = self._clock.now()
        async with self._store.unit() as uow:
            due = await uow.certificates.certificates(
                states=(CertificateState.ACTIVE,), expiring_before=now + self.config.renew_before
            )
        asked = 0
        for certificate in due:
            requested = certificate.renewal_requested_at
            if requested is not None and now - requested < self.config.renewal_retry:
                continue
            outcome = await self._commands.send(
                station_id=certificate.station_id,
                command=c.ExtendedTriggerMessage(message="SignChargePointCertificate"),
                actor=SYSTEM,
                reason=f"certificate {certificate.serial} expires {certificate.not_after.isoformat()}",
            )
            accepted = outcome.outcome is c.CommandOutcomeKind.ANSWERED and outcome.status == "Accepted"
            problem = (
                None
                if accepted
                else f"asking for a new CSR failed ({outcome.outcome}: {outcome.status or outcome.error})"
            )
            async with self._store.unit() as uow:
                await uow.certificates.renewal(certificate_id=certificate.id, requested_at=now, problem=problem)
            asked += 1
            if problem is not None:
                await self._renewal_failed(certificate.station_id, problem, certificate)
        return asked

    async def keep_renewing(self, interval_seconds: float) -> None:
        """The background check app.py runs: renewals now, then every interval."""
        while True:
            try:
                await self.check_renewals()
            except Exception:
                log.exception("the certificate renewal check failed; trying again in %.0f s", interval_seconds)
            await asyncio.sleep(interval_seconds)

    @staticmethod
    def _alarm_key(station_id: StationId) -> str:
        return f"certificate-renewal:{station_id}"

    async def _renewal_failed(
        self, station_id: StationId, problem: str, certificate: StationCertificate | None = None
    ) -> None:
        """An alarm when the station's active certificate is due and could not be renewed."""
        if certificate is None:
            async with self._store.unit() as uow:
                due = await uow.certificates.certificates(
                    station_id=station_id,
                    states=(CertificateState.ACTIVE,),
                    expiring_before=self._clock.now() + self.config.renew_before,
                    limit=1,
                )
            if not due:
                return  # not a renewal: the refusal is recorded with the request
            certificate = due[0]
        await self._alarms.raise_alarm(
            key=self._alarm_key(station_id),
            source=ALARM_SOURCE,
            station_id=station_id,
            evse=None,
            priority=AlarmPriority.HIGH,
            message=(
                f"certificate {certificate.serial} expires {certificate.not_after:%Y-%m-%d %H:%M} UTC and could not "
                f"be renewed: {problem}"
            ),
        )

    # ---- 2.0.1 GetCertificateStatus -----------------------------------------------------------------------------

    async def certificate_status(
        self, *, hash_algorithm: str, issuer_name_hash: str, issuer_key_hash: str, serial_number: str
    ) -> CertificateStatusAnswer:
        """The OCSP response from the configured responder (certificates.ocsp_responder_url); without one, Failed
        with the reason (the station's own responderURL is not fetched: that would let a station make the CSMS
        call any address)."""
        url = self.config.ocsp_responder_url
        if not url or self._ocsp_fetch is None:
            return CertificateStatusAnswer(
                "Failed", reason="no OCSP responder is configured on the CSMS (certificates.ocsp_responder_url)"
            )
        algorithm = {"SHA256": hashes.SHA256(), "SHA384": hashes.SHA384(), "SHA512": hashes.SHA512()}.get(
            hash_algorithm
        )
        try:
            if algorithm is None:
                raise ValueError(f"unknown hash algorithm {hash_algorithm}")
            request = (
                ocsp.OCSPRequestBuilder()
                .add_certificate_by_hash(
                    bytes.fromhex(issuer_name_hash), bytes.fromhex(issuer_key_hash), int(serial_number, 16), algorithm
                )
                .build()
            )
        except ValueError as exc:
            return CertificateStatusAnswer("Failed", reason=f"the OCSP request data is not usable: {exc}")
        try:
            der = await self._ocsp_fetch(url, request.public_bytes(serialization.Encoding.DER))
            ocsp.load_der_ocsp_response(der)  # only a well-formed response is passed on
        except Exception as exc:  # the responder is another system: any failure is the station's Failed
            return CertificateStatusAnswer("Failed", reason=f"the OCSP responder did not answer usably: {exc}")
        return CertificateStatusAnswer("Accepted", ocsp_result=base64.b64encode(der).decode())


def _same_key(certificate: x509.Certificate, csr: x509.CertificateSigningRequest) -> bool:
    def der(key: object) -> bytes:
        return key.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return der(certificate.public_key()) == der(csr.public_key())
