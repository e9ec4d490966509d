"""Secrets evscada must send in clear elsewhere (the OCPP proxy's upstream passwords), sealed at rest with Fernet.

The key lives in a file of its own (setting `upstream_key_file`), made on first use with mode 600 like the
certificate authority's key: a copy of the database alone does not reveal the passwords. Sealed values carry a
`fernet:` prefix, so a value stored in clear by an older evscada is still read (and sealed by the caller).

The file may hold several keys, one a line: the first seals, every one opens. That is how the key is rotated
(`evscada upstream-key rotate`, docs/operations.md): a new key goes first, every stored password is sealed again
with it, then the old keys leave the file. A running process reads the file again before it seals and when a value
does not open with the keys it holds, so it follows a rotation made by another process without a restart."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"


class SecretKeyError(RuntimeError):
    """The key file is unusable, or does not open a sealed value."""


def read_keys(path: Path) -> list[bytes]:
    """The file's keys, first (the sealing one) first; the file is made with one new key when missing."""
    if not path.exists():
        write_keys(path, [Fernet.generate_key()])
    keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise SecretKeyError(
                f"{path} holds a line that is not a Fernet key (44 characters of url-safe base64); restore the right "
                "file, or move it away to make a new one (stored upstream passwords must then be set again)"
            ) from None
    if not keys:
        raise SecretKeyError(f"{path} holds no key; restore the right file, or delete it to make a new one")
    return keys


def write_keys(path: Path, keys: list[bytes]) -> None:
    """Replace the file at once (a reader sees the old keys or the new ones, never half a file), mode 600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(b"\n".join(keys) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def add_new_key(path: Path) -> int:
    """Put a new key first (it seals from now on); the others stay to open what they sealed. Returns the count of
    old keys kept."""
    keys = read_keys(path)
    write_keys(path, [Fernet.generate_key(), *keys])
    return len(keys)


def keep_only_first_key(path: Path) -> int:
    """Drop every key but the sealing one; returns how many were dropped."""
    keys = read_keys(path)
    write_keys(path, keys[:1])
    return len(keys) - 1


class FernetSecretBox:
    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._fernet: MultiFernet | None = None
        self._lock = asyncio.Lock()

    async def _key(self, *, fresh: bool = False) -> MultiFernet:
        if self._fernet is None or fresh:
            async with self._lock:
                keys = await asyncio.to_thread(read_keys, self.key_file)
                self._fernet = MultiFernet([Fernet(key) for key in keys])
        return self._fernet

    async def seal(self, plain: str) -> str:
        # Read afresh: after a rotation by another process, sealing with a key about to be dropped would lose it.
        return PREFIX + (await self._key(fresh=True)).encrypt(plain.encode()).decode()

    async def open(self, stored: str) -> tuple[str, bool]:
        if not stored.startswith(PREFIX):
            return stored, False  # stored in clear before sealing existed
        token = stored[len(PREFIX) :].encode()
        try:
            return (await self._key()).decrypt(token).decode(), True
        except InvalidToken:
            pass
        try:  # sealed with a key this process has not read yet: a rotation happened since
            return (await self._key(fresh=True)).decrypt(token).decode(), True
        except InvalidToken:
            raise SecretKeyError(
                f"an upstream password does not open with the keys in {self.key_file}; restore the key file "
                "that sealed it, or set the upstream's password again"
            ) from None

    async def reseal(self, stored: str) -> str:
        """The value sealed with the first key of the file now (a value stored in clear is sealed)."""
        if not stored.startswith(PREFIX):
            return await self.seal(stored)
        try:
            rotated = (await self._key(fresh=True)).rotate(stored[len(PREFIX) :].encode())
        except InvalidToken:
            raise SecretKeyError(
                f"an upstream password does not open with the keys in {self.key_file}: it cannot be sealed again; "
                "set that upstream's password again"
            ) from None
        return PREFIX + rotated.decode()
