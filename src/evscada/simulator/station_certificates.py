"""A simulated station's own certificate (security profile 3): a new key and CSR when the CSMS asks for one, and the
chain the CSMS signs back, installed only if it certifies that key for this station."""

from __future__ import annotations

import logging

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)


class StationCertificates:
    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.key: ec.EllipticCurvePrivateKey | None = None  # the key of the installed certificate
        self.chain: str | None = None  # PEM, the station's certificate first
        self._pending_key: ec.EllipticCurvePrivateKey | None = None  # the key of the CSR sent last

    def new_csr(self, organisation: str) -> str:
        """A PEM CSR for a fresh P-256 key: CN the station id, O the organisation it is configured with."""
        self._pending_key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, self.station_id),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            ]
        )
        request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(self._pending_key, hashes.SHA256())
        return request.public_bytes(serialization.Encoding.PEM).decode()

    def install(self, chain: str) -> bool:
        """Keep the chain if its first certificate is this station's and certifies the key of the last CSR."""
        try:
            certificate = x509.load_pem_x509_certificates(chain.encode())[0]
        except (ValueError, IndexError):
            log.warning("%s: CertificateSigned carried no PEM certificate", self.station_id)
            return False
        names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        key = self._pending_key
        if key is None or not names or names[0].value != self.station_id:
            log.warning("%s: the signed certificate is not for this station's last CSR", self.station_id)
            return False
        if certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
            log.warning("%s: the signed certificate certifies another key", self.station_id)
            return False
        self.key, self.chain, self._pending_key = key, chain, None
        log.info("%s: certificate %x installed", self.station_id, certificate.serial_number)
        return True

    def key_pem(self) -> bytes:
        """The installed certificate's private key (PKCS#8 PEM), for a TLS client."""
        if self.key is None:
            raise LookupError(f"{self.station_id} has no certificate installed")
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
