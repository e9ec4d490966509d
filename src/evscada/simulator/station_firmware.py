"""A simulated station's firmware updates: it downloads the image from the location the CSMS gave (HTTP GET),
reports each step in its version's words, installs, and reboots announcing the new version in BootNotification.

The new version is read from the image: a first line `EVSCADA-SIM-FIRMWARE <version>`, else a version in the file
name (`name-4.2.1.bin`). Tests make installs fail with `fail_install` (or downloads with `fail_download`)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60.0
MARKER = b"EVSCADA-SIM-FIRMWARE "
_NAMED_VERSION = re.compile(r"[-_]v?(\d+(?:\.\d+)+[A-Za-z0-9.+~-]*?)(?:\.(?:bin|img|tar|gz|zip|fw))*$")

Report = Callable[[str], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Words:
    """A version's status words for the same steps."""

    downloading: str = "Downloading"
    downloaded: str = "Downloaded"
    download_failed: str = "DownloadFailed"
    installing: str = "Installing"
    installed: str = "Installed"
    install_failed: str = "InstallationFailed"
    signature_verified: str | None = None  # signed updates report it between Downloaded and Installing


PLAIN_16 = Words()
SIGNED = Words(signature_verified="SignatureVerified")  # 1.6 security extension and 2.0.1 alike


class Rebooting(Protocol):
    def restart(self, boot_reason: str, firmware: str | None = None) -> None: ...


def start(station: Any, work: Coroutine[Any, Any, None], name: str) -> None:
    """Run an update in a task the station owns, once its answer is sent (a station not running drops it)."""
    station.spawn(work, name)


@dataclass(frozen=True, slots=True)
class Installed:
    """One update as the station made it: tests compare it with what the CSMS served."""

    location: str
    version: str | None
    size: int
    sha256: str
    outcome: str  # the last word the station reported


def version_of(content: bytes, location: str) -> str | None:
    """The version an image carries: its marker line, else its file name's version; None: unknown."""
    if content.startswith(MARKER):
        line = content[len(MARKER) :].split(b"\n", 1)[0].strip()
        if line:
            return line.decode("ascii", "replace")[:50]
    name = location.rstrip("/").rsplit("/", 1)[-1]
    found = _NAMED_VERSION.search(name)
    return found.group(1) if found else None


@dataclass(slots=True)
class StationFirmware:
    station_id: str
    fail_install: bool = False  # the next installs fail (InstallationFailed) until cleared
    fail_download: bool = False
    install_seconds: float = 0.05  # how long installing takes
    history: list[Installed] = field(default_factory=list)
    busy: bool = False
    published: dict[str, str] = field(default_factory=dict)  # MD5 -> where the local controller serves it

    async def publish(self, location: str, checksum: str, report: Callable[..., Awaitable[object]]) -> None:
        """2.0.1 PublishFirmware as a local controller: fetch, check the MD5, serve (here: remember) it."""
        await report("Downloading")
        content = await self._download(location)
        if content is None:
            await report("DownloadFailed")
            return
        await report("Downloaded")
        if hashlib.md5(content, usedforsecurity=False).hexdigest() != checksum.lower():
            await report("InvalidChecksum")
            return
        await report("ChecksumVerified")
        served = f"http://{self.station_id.lower()}.local/firmware/{checksum}"
        self.published[checksum.lower()] = served
        await report("Published", served)

    def unpublish(self, checksum: str) -> bool:
        return self.published.pop(checksum.lower(), None) is not None

    async def update(
        self,
        *,
        location: str,
        retrieve_at: datetime | None,
        report: Report,
        words: Words,
        station: Rebooting,
    ) -> None:
        """Download, install and reboot, telling the CSMS each step; a failure ends with the version's word."""
        self.busy = True
        try:
            if retrieve_at is not None:
                wait = (retrieve_at - datetime.now(UTC)).total_seconds()
                if wait > 0:
                    await asyncio.sleep(min(wait, 3600))
            await report(words.downloading)
            content = None if self.fail_download else await self._download(location)
            # Each outcome is in the history before the CSMS hears of it: whoever reads both never sees it missing.
            if content is None:
                self.history.append(Installed(location, None, 0, "", words.download_failed))
                await report(words.download_failed)
                return
            await report(words.downloaded)
            if words.signature_verified:
                await report(words.signature_verified)
            await report(words.installing)
            await asyncio.sleep(self.install_seconds)
            version = version_of(content, location)
            digest = hashlib.sha256(content).hexdigest()
            if self.fail_install:
                self.history.append(Installed(location, version, len(content), digest, words.install_failed))
                await report(words.install_failed)
                return
            self.history.append(Installed(location, version, len(content), digest, words.installed))
            await report(words.installed)
            log.info("%s: installed firmware %s; rebooting", self.station_id, version)
            station.restart("FirmwareUpdate", version)
        finally:
            self.busy = False

    async def _download(self, location: str) -> bytes | None:
        try:
            async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT) as client:
                answer = await client.get(location)
        except httpx.HTTPError as exc:
            log.warning("%s: downloading firmware from %s failed: %r", self.station_id, location, exc)
            return None
        if answer.status_code != 200:
            log.warning("%s: firmware download refused (%d): %s", self.station_id, answer.status_code, answer.text)
            return None
        return answer.content
