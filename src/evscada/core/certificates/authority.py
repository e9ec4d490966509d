"""The built-in certificate authority: checks stations' certificate signing requests and signs them.

Pure cryptography on bytes (the `cryptography` package); where the CA's files live is the caller's business.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Keys a station may have certified: RSA of at least 2048 bits, or an elliptic curve of at least 256 bits
# (OCPP 2.0.1 part 2 A00.FR.3xx and the 1.6 security whitepaper ask for at least these strengths).
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256


class CsrRefused(ValueError):
    """A signing request the CA will not sign; the message says why (it is recorded with the request)."""


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What is tracked of a certificate."""

    serial: str  # hexadecimal, as OCPP's CertificateHashData carries it
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    pem: str


def describe(certificate: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        serial=format(certificate.serial_number, "x"),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
    )


def read_certificate(pem: str) -> x509.Certificate:
    """The first certificate of a PEM text; CsrRefused (a ValueError) with a reason when it is none."""
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise CsrRefused(f"not a PEM certificate ({exc}); send the text from -----BEGIN CERTIFICATE-----") from None


def read_csr(pem: str) -> x509.CertificateSigningRequest:
    text = pem.strip()
    if "BEGIN" not in text:  # some stations send the base64 body alone
        text = f"-----BEGIN CERTIFICATE REQUEST-----\n{text}\n-----END CERTIFICATE REQUEST-----"
    try:
        return x509.load_pem_x509_csr(text.encode())
    except ValueError:
        raise CsrRefused("the CSR is not a PEM-encoded PKCS#10 certificate signing request") from None


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def check_csr(pem: str, *, station_id: str, organisation: str) -> x509.CertificateSigningRequest:
    """The request, if its signature holds, its subject names this station and our organisation, and its key is
    strong enough; else CsrRefused saying which of these failed."""
    csr = read_csr(pem)
    try:
        valid = csr.is_signature_valid
    except InvalidSignature:
        valid = False
    if not valid:
        raise CsrRefused("the CSR's signature does not match its key")
    common_name = _attribute(csr.subject, NameOID.COMMON_NAME)
    if common_name != station_id:
        raise CsrRefused(f"the CSR's common name (CN) is {common_name!r}; it must be the station id {station_id!r}")
    org = _attribute(csr.subject, NameOID.ORGANIZATION_NAME)
    if org != organisation:
        raise CsrRefused(
            f"the CSR's organisation (O) is {org!r}; it must be {organisation!r} (certificates.organisation)"
        )
    key = csr.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrRefused(f"the CSR's RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < MIN_EC_BITS:
            raise CsrRefused(f"the CSR's EC key has {key.curve.key_size} bits; at least {MIN_EC_BITS} are required")
    else:
        raise CsrRefused(f"the CSR's key type ({type(key).__name__}) is not accepted; use RSA or an elliptic curve")
    return csr


class CertificateAuthority:
    """A CA certificate and its private key, signing station certificates for profile 3 (TLS client auth)."""

    def __init__(self, certificate_pem: bytes, key_pem: bytes) -> None:
        self.certificate = x509.load_pem_x509_certificate(certificate_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise ValueError("the CA key must be an RSA or elliptic-curve private key")
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(*spki) != self.certificate.public_key().public_bytes(*spki):
            raise ValueError("the CA key does not belong to the CA certificate (certificates.ca_key_file)")
        self._key = key

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def sign(
        self, csr: x509.CertificateSigningRequest, *, now: dt.datetime, validity: dt.timedelta
    ) -> x509.Certificate:
        """A client certificate for the CSR's subject and key, valid from a few minutes ago (clock skew)."""
        ca_not_after = self.certificate.not_valid_after_utc
        return (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + validity, ca_not_after))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    def chain_pem(self, certificate: x509.Certificate) -> str:
        """What CertificateSigned carries: the station's certificate, then ours."""
        return certificate.public_bytes(serialization.Encoding.PEM).decode() + self.certificate_pem


def new_authority(*, organisation: str, now: dt.datetime, days: int = 3650) -> tuple[bytes, bytes]:
    """A fresh self-signed CA: (certificate PEM, private key PEM)."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organisation} station CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def hash_data(certificate: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """OCPP CertificateHashData (SHA256) of a certificate: hashes of its issuer's name and key, and its serial."""
    issuer_name = hashes.Hash(hashes.SHA256())
    issuer_name.update(certificate.issuer.public_bytes())
    issuer_key = hashes.Hash(hashes.SHA256())
    issuer_key.update(
        issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": issuer_name.finalize().hex(),
        "issuerKeyHash": issuer_key.finalize().hex(),
        "serialNumber": format(certificate.serial_number, "x"),
    }
