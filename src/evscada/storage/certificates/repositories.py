"""SQL for station certificates, their signing requests and security profile upgrades."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evscada.core.certificates.model import (
    AuthorityMode,
    CertificateState,
    RequestStatus,
    SecurityUpgrade,
    SigningRequest,
    StationCertificate,
    UpgradeState,
)
from evscada.core.model import StationId
from evscada.storage import tables as t

_req = t.certificate_requests.c
_cert = t.station_certificates.c
_up = t.security_upgrades.c


def _request(row: Any) -> SigningRequest:
    return SigningRequest(
        id=row.id,
        station_id=StationId(row.station_id),
        csr=row.csr,
        certificate_type=row.certificate_type,
        status=RequestStatus(row.status),
        reason=row.reason,
        certificate_id=row.certificate_id,
        received_at=row.received_at,
        updated_at=row.updated_at,
    )


def _certificate(row: Any) -> StationCertificate:
    return StationCertificate(
        id=row.id,
        station_id=StationId(row.station_id),
        serial=row.serial,
        subject=row.subject,
        issuer=row.issuer,
        not_before=row.not_before,
        not_after=row.not_after,
        state=CertificateState(row.state),
        source=AuthorityMode(row.source),
        issued_at=row.issued_at,
        pem=row.pem,
        request_id=row.request_id,
        renewal_requested_at=row.renewal_requested_at,
        renewal_problem=row.renewal_problem,
    )


def _upgrade(row: Any) -> SecurityUpgrade:
    return SecurityUpgrade(
        id=row.id,
        station_id=StationId(row.station_id),
        from_profile=row.from_profile,
        to_profile=row.to_profile,
        password_hash=row.password_hash,
        state=UpgradeState(row.state),
        requested_at=row.requested_at,
        requested_by=row.requested_by,
        updated_at=row.updated_at,
        detail=row.detail,
    )


class SqlCertificates:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    # ---- signing requests ---------------------------------------------------------------------------------------

    async def add_request(self, *, request: SigningRequest) -> int:
        result = await self._c.execute(
            insert(t.certificate_requests)
            .values(
                station_id=request.station_id,
                certificate_type=request.certificate_type,
                csr=request.csr,
                status=str(request.status),
                reason=request.reason,
                certificate_id=request.certificate_id,
                received_at=request.received_at,
                updated_at=request.updated_at,
            )
            .returning(_req.id)
        )
        return int(result.scalar_one())

    async def update_request(
        self, *, request_id: int, status: RequestStatus, reason: str | None, certificate_id: int | None, at: datetime
    ) -> None:
        await self._c.execute(
            update(t.certificate_requests)
            .where(_req.id == request_id)
            .values(status=str(status), reason=reason, certificate_id=certificate_id, updated_at=at)
        )

    async def request(self, *, request_id: int) -> SigningRequest | None:
        row = (await self._c.execute(select(t.certificate_requests).where(_req.id == request_id))).first()
        return _request(row) if row is not None else None

    async def requests(
        self, *, station_id: StationId | None = None, status: RequestStatus | None = None, limit: int = 100
    ) -> list[SigningRequest]:
        statement = select(t.certificate_requests).order_by(_req.received_at.desc(), _req.id.desc()).limit(limit)
        if station_id is not None:
            statement = statement.where(_req.station_id == station_id)
        if status is not None:
            statement = statement.where(_req.status == str(status))
        return [_request(row) for row in await self._c.execute(statement)]

    # ---- certificates -------------------------------------------------------------------------------------------

    async def add_certificate(self, *, certificate: StationCertificate) -> int:
        result = await self._c.execute(
            insert(t.station_certificates)
            .values(
                station_id=certificate.station_id,
                serial=certificate.serial,
                subject=certificate.subject,
                issuer=certificate.issuer,
                not_before=certificate.not_before,
                not_after=certificate.not_after,
                state=str(certificate.state),
                source=str(certificate.source),
                issued_at=certificate.issued_at,
                pem=certificate.pem,
                request_id=certificate.request_id,
            )
            .returning(_cert.id)
        )
        return int(result.scalar_one())

    async def certificate(self, *, certificate_id: int) -> StationCertificate | None:
        row = (await self._c.execute(select(t.station_certificates).where(_cert.id == certificate_id))).first()
        return _certificate(row) if row is not None else None

    async def set_state(self, *, certificate_id: int, state: CertificateState) -> None:
        await self._c.execute(update(t.station_certificates).where(_cert.id == certificate_id).values(state=str(state)))

    async def supersede(self, *, station_id: StationId, keep_id: int) -> int:
        result = await self._c.execute(
            update(t.station_certificates)
            .where(
                _cert.station_id == station_id,
                _cert.id != keep_id,
                _cert.state == str(CertificateState.ACTIVE),
            )
            .values(state=str(CertificateState.SUPERSEDED))
        )
        return int(result.rowcount)

    async def certificates(
        self,
        *,
        station_id: StationId | None = None,
        states: Sequence[CertificateState] = (),
        expiring_before: datetime | None = None,
        limit: int = 1000,
    ) -> list[StationCertificate]:
        statement = select(t.station_certificates).order_by(_cert.not_after, _cert.id).limit(limit)
        if station_id is not None:
            statement = statement.where(_cert.station_id == station_id)
        if states:
            statement = statement.where(_cert.state.in_([str(s) for s in states]))
        if expiring_before is not None:
            statement = statement.where(_cert.not_after <= expiring_before)
        return [_certificate(row) for row in await self._c.execute(statement)]

    async def renewal(self, *, certificate_id: int, requested_at: datetime, problem: str | None) -> None:
        await self._c.execute(
            update(t.station_certificates)
            .where(_cert.id == certificate_id)
            .values(renewal_requested_at=requested_at, renewal_problem=problem)
        )

    async def has_certificate(self, *, station_id: StationId, states: tuple[CertificateState, ...]) -> bool:
        statement = (
            select(_cert.id).where(_cert.station_id == station_id, _cert.state.in_([str(s) for s in states])).limit(1)
        )
        return (await self._c.execute(statement)).first() is not None

    # ---- security upgrades --------------------------------------------------------------------------------------

    async def pending_upgrades(self) -> list[SecurityUpgrade]:
        statement = select(t.security_upgrades).where(_up.state == str(UpgradeState.PENDING)).order_by(_up.id)
        return [_upgrade(row) for row in await self._c.execute(statement)]

    async def upgrades(self, *, station_id: StationId) -> list[SecurityUpgrade]:
        statement = select(t.security_upgrades).where(_up.station_id == station_id).order_by(_up.id.desc())
        return [_upgrade(row) for row in await self._c.execute(statement)]

    async def save_upgrade(self, *, upgrade: SecurityUpgrade) -> int:
        values = {
            "station_id": upgrade.station_id,
            "from_profile": upgrade.from_profile,
            "to_profile": upgrade.to_profile,
            "password_hash": upgrade.password_hash,
            "state": str(upgrade.state),
            "requested_at": upgrade.requested_at,
            "requested_by": upgrade.requested_by,
            "updated_at": upgrade.updated_at,
            "detail": upgrade.detail,
        }
        if upgrade.id:
            await self._c.execute(update(t.security_upgrades).where(_up.id == upgrade.id).values(**values))
            return upgrade.id
        result = await self._c.execute(insert(t.security_upgrades).values(**values).returning(_up.id))
        return int(result.scalar_one())
