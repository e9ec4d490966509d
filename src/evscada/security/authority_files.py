"""The certificate authority's files: loaded when they exist, made on first use when neither does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def load_or_create(
    cert_file: Path, key_file: Path, *, make_new: Callable[[], tuple[bytes, bytes]]
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM). Only one of the two existing is an error: a CA is never silently replaced."""
    if cert_file.exists() and key_file.exists():
        return cert_file.read_bytes(), key_file.read_bytes()
    if cert_file.exists() or key_file.exists():
        present, missing = (cert_file, key_file) if cert_file.exists() else (key_file, cert_file)
        raise ValueError(
            f"certificates: {present} exists but {missing} does not; restore it, or move both away to make a new CA"
        )
    certificate, key = make_new()
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_bytes(key)
    cert_file.write_bytes(certificate)
    return certificate, key
