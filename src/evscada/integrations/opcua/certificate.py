"""The server's application instance certificate: the configured one, or one made here on first start and kept."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from evscada.integrations.opcua.settings import OpcUaSettings

CERTIFICATE_NAME = "server-certificate.der"
KEY_NAME = "server-key.pem"
VALID_DAYS = 3650


async def certificate_files(settings: OpcUaSettings) -> tuple[Path, Path]:
    """(certificate, key): the settings' pair, or the generated one in certificate_folder (made if missing)."""
    if settings.certificate_file is not None and settings.private_key_file is not None:
        for path in (settings.certificate_file, settings.private_key_file):
            if not await asyncio.to_thread(path.is_file):
                raise FileNotFoundError(f"opcua: {path} does not exist; fix certificate_file/private_key_file")
        return settings.certificate_file, settings.private_key_file
    certificate = settings.certificate_path / CERTIFICATE_NAME
    key = settings.certificate_path / KEY_NAME
    if not (await asyncio.to_thread(certificate.is_file) and await asyncio.to_thread(key.is_file)):
        await asyncio.to_thread(_generate, settings.application_uri, certificate, key)
    return certificate, key


def _generate(application_uri: str, certificate_path: Path, key_path: Path) -> None:
    """A self-signed RSA 2048 certificate as OPC UA Part 6 wants it: the ApplicationUri in subjectAltName, usable
    for signing and encryption (Basic256Sha256), for both server and client authentication."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    host = socket.gethostname()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "evscada OPC UA server"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "evscada"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(application_uri),
        x509.DNSName(host),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate_path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key is for evscada's eyes
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
