"""The local-folder file store: one file per object, written under a temporary name and renamed only when complete
and within the size limit, so a reader never sees half a file. Disk work runs in threads, off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

from evscada.core.files.store import ObjectMissing, ObjectTooLarge, StoredObject

CHUNK = 1 << 16
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
PARTIAL = ".partial"  # suffix of files being written; never listed, removed when a write fails


class LocalFileStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or key.endswith(PARTIAL):
            raise ValueError(f"{key!r} is not a file store key (letters, digits, '.', '_', '-')")
        return self.folder / key

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> StoredObject:
        final = self._path(key)
        partial = self.folder / f".{key}.{uuid.uuid4().hex}{PARTIAL}"
        handle = await asyncio.to_thread(_open_for_writing, self.folder, partial)
        digest = hashlib.sha256()
        size = 0
        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > max_bytes:
                    raise ObjectTooLarge(max_bytes)
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(_finish, handle, partial, final)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(_discard, handle, partial))
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise ObjectMissing(f"no file {key} in {self.folder}") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def listing(self) -> list[StoredObject]:
        return await asyncio.to_thread(self._listing)

    def _listing(self) -> list[StoredObject]:
        if not self.folder.is_dir():
            return []
        return [
            StoredObject(key=entry.name, size=entry.stat().st_size, sha256="")
            for entry in sorted(self.folder.iterdir())
            if entry.is_file() and _KEY.match(entry.name) and not entry.name.endswith(PARTIAL)
        ]


def _open_for_writing(folder: Path, partial: Path) -> BinaryIO:
    folder.mkdir(parents=True, exist_ok=True)
    return partial.open("xb")


def _finish(handle: BinaryIO, partial: Path, final: Path) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    os.replace(partial, final)


def _discard(handle: BinaryIO, partial: Path) -> None:
    with contextlib.suppress(OSError):
        handle.close()
    partial.unlink(missing_ok=True)
