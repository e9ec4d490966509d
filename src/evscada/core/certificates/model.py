"""What the certificate capability keeps: stations' signing requests, the certificates issued, security upgrades."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from evscada.core.model import StationId


class AuthorityMode(enum.StrEnum):
    BUILTIN = "builtin"  # our CA signs valid requests at once
    EXTERNAL = "external"  # requests wait for an operator to sign them elsewhere and install the result


class RequestStatus(enum.StrEnum):
    REJECTED = "rejected"  # refused; `reason` says why
    AWAITING_OPERATOR = "awaiting_operator"  # external CA: sign it elsewhere, install via the API
    SIGNED = "signed"  # signed; CertificateSigned is on its way
    DELIVERED = "delivered"  # the station accepted its certificate
    DELIVERY_FAILED = "delivery_failed"  # the station refused it, or could not be reached; `reason` says how


class CertificateState(enum.StrEnum):
    ISSUED = "issued"  # signed, not yet accepted by the station
    ACTIVE = "active"  # the station holds it
    SUPERSEDED = "superseded"  # a newer one replaced it
    REFUSED = "refused"  # the station did not accept it


@dataclass(frozen=True, slots=True)
class CertificateConfig:
    mode: AuthorityMode = AuthorityMode.BUILTIN
    organisation: str = "evscada"
    validity: timedelta = timedelta(days=365)
    renew_before: timedelta = timedelta(days=30)
    renewal_retry: timedelta = timedelta(hours=24)  # a renewal the station did not answer is asked again after this
    ocsp_responder_url: str | None = None  # GetCertificateStatus is answered from it; None: Failed with a reason
    delivery_delay_seconds: float = 0.2  # CertificateSigned goes after SignCertificate's answer


@dataclass(slots=True)
class SigningRequest:
    station_id: StationId
    csr: str
    certificate_type: str  # ChargingStationCertificate (1.6: ChargePointCertificate) or V2GCertificate
    status: RequestStatus
    received_at: datetime
    updated_at: datetime
    reason: str | None = None
    certificate_id: int | None = None
    id: int = 0


@dataclass(slots=True)
class StationCertificate:
    station_id: StationId
    serial: str
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    state: CertificateState
    issued_at: datetime
    pem: str
    source: AuthorityMode
    request_id: int | None = None
    renewal_requested_at: datetime | None = None
    renewal_problem: str | None = None
    id: int = 0


class UpgradeState(enum.StrEnum):
    PENDING = "pending"  # new credentials accepted beside the old ones
    COMPLETED = "completed"  # the station connected with them; the old ones are gone
    CANCELLED = "cancelled"  # given up; the old ones stay


@dataclass(slots=True)
class SecurityUpgrade:
    """A change of a station's security profile and password under way: both the old credentials (on the station
    record) and these are accepted until the station connects with these."""

    station_id: StationId
    from_profile: int
    to_profile: int
    password_hash: str | None  # the new password's hash; None: the profile needs none (3) or keeps the old one
    state: UpgradeState
    requested_at: datetime
    requested_by: str
    updated_at: datetime
    detail: str | None = None
    id: int = 0
