"""Secrets evscada must send in clear elsewhere (the OCPP proxy's upstream passwords), sealed at rest with Fernet.

The key lives in a file of its own (setting `upstream_key_file`), made on first use with mode 600 like the
certificate authority's key: a copy of the database alone does not reveal the passwords. Sealed values carry a
`fernet:` prefix, so a value stored in clear by an older evscada is still read (and sealed by the caller)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "fernet:"


class SecretKeyError(RuntimeError):
    """The key file is unusable, or does not open a sealed value."""


class FernetSecretBox:
    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._fernet: Fernet | None = None
        self._lock = asyncio.Lock()

    async def _key(self) -> Fernet:
        if self._fernet is None:
            async with self._lock:
                if self._fernet is None:
                    self._fernet = await asyncio.to_thread(self._load_or_create)
        return self._fernet

    def _load_or_create(self) -> Fernet:
        path = self.key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_bytes(Fernet.generate_key())
        try:
            return Fernet(path.read_bytes().strip())
        except ValueError:
            raise SecretKeyError(
                f"{path} is not a Fernet key (44 characters of url-safe base64); restore the right file, "
                "or move it away to make a new one (stored upstream passwords must then be set again)"
            ) from None

    async def seal(self, plain: str) -> str:
        return PREFIX + (await self._key()).encrypt(plain.encode()).decode()

    async def open(self, stored: str) -> tuple[str, bool]:
        if not stored.startswith(PREFIX):
            return stored, False  # stored in clear before sealing existed
        try:
            return (await self._key()).decrypt(stored[len(PREFIX) :].encode()).decode(), True
        except InvalidToken:
            raise SecretKeyError(
                f"an upstream password does not open with the key in {self.key_file}; restore the key file "
                "that sealed it, or set the upstream's password again"
            ) from None
