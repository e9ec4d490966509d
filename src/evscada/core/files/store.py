"""The byte store behind station files, as a port: a local folder by default (storage/files/local.py); an
S3-compatible store would implement the same Protocol."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a store holds under a key: its size and SHA-256, counted while it was written."""

    key: str
    size: int
    sha256: str


class ObjectTooLarge(Exception):
    """The stream passed the size limit: the store kept nothing of it."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


class ObjectMissing(Exception):
    """No object under that key (deleted by hand, or lost with the folder)."""


class FileStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StoredObject:
        """Write the stream under key, visible only once complete; over max_bytes raises ObjectTooLarge and keeps
        nothing. A failure of the stream (the client went away) also keeps nothing."""
        ...

    def open(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks; ObjectMissing (when iterated) if there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; absent already is fine."""
        ...

    async def listing(self) -> list[StoredObject]:
        """Every complete object, for checks and clean-up (sha256 left empty: not re-read)."""
        ...


class MissingFileStore:
    """For tools that build the core without a file store (the CLI): every use says so."""

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StoredObject:
        raise RuntimeError("no file store is configured in this process")

    async def open(self, key: str) -> AsyncIterator[bytes]:
        raise RuntimeError("no file store is configured in this process")
        yield b""  # pragma: no cover

    async def delete(self, key: str) -> None:
        raise RuntimeError("no file store is configured in this process")

    async def listing(self) -> list[StoredObject]:
        return []
