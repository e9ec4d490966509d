"""Settings of the certificate authority (Settings.certificates, the [certificates] table)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evscada.core.certificates.model import AuthorityMode, CertificateConfig


class CertificateSettings(BaseModel):
    """In TOML under [certificates]; as a variable, EVSCADA_CERTIFICATES='{"organisation": "ACME"}' (JSON)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["builtin", "external"] = Field(
        "builtin",
        description="builtin: our CA signs stations' CSRs at once; external: CSRs wait for an operator to sign "
        "them elsewhere and install the certificate (POST /api/v1/stations/{id}/certificates/signed)",
    )
    ca_cert_file: str = Field(
        "var/certificates/ca-cert.pem",
        min_length=1,
        description="the CA certificate (PEM); made with ca_key_file on first use when neither exists",
    )
    ca_key_file: str = Field(
        "var/certificates/ca-key.pem", min_length=1, description="the CA's private key (PEM, unencrypted, mode 600)"
    )
    organisation: str = Field(
        "evscada", min_length=1, max_length=64, description="the O a station's CSR must carry (its CN: the station id)"
    )
    validity_days: int = Field(365, ge=1, le=3650, description="how long a signed station certificate is valid")
    renew_before_days: int = Field(
        30, ge=1, description="a station is asked for a new CSR this long before its certificate expires"
    )
    renewal_check_seconds: float = Field(3600.0, gt=0, description="seconds between renewal checks")
    renewal_retry_hours: float = Field(
        24.0, gt=0, description="a renewal the station has not completed is asked for again after this long"
    )
    ocsp_responder_url: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        description="OCSP responder that answers 2.0.1 GetCertificateStatus; null: answered Failed with the reason",
    )

    @model_validator(mode="after")
    def _renew_within_validity(self) -> CertificateSettings:
        if self.renew_before_days >= self.validity_days:
            raise ValueError(
                f"renew_before_days ({self.renew_before_days}) must be less than validity_days ({self.validity_days})"
            )
        return self

    @property
    def ca_cert_path(self) -> Path:
        return Path(self.ca_cert_file)

    @property
    def ca_key_path(self) -> Path:
        return Path(self.ca_key_file)

    def config(self) -> CertificateConfig:
        return CertificateConfig(
            mode=AuthorityMode(self.mode),
            organisation=self.organisation,
            validity=timedelta(days=self.validity_days),
            renew_before=timedelta(days=self.renew_before_days),
            renewal_retry=timedelta(hours=self.renewal_retry_hours),
            ocsp_responder_url=self.ocsp_responder_url,
        )
